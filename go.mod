module github.com/offlined/offlined

go 1.26.8

require github.com/gorilla/mux v1.8.1
