package localapitest

import (
	"bytes"
	"io"
	"mime/multipart"
)

// Upload is a multipart/form-data body with the form fields kv (name,
// value pairs) and a file part "attachment" named filename holding data,
// and the Content-Type that goes with it.
func Upload(filename string, data []byte, kv ...string) (io.Reader, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i := 0; i+1 < len(kv); i += 2 {
		mw.WriteField(kv[i], kv[i+1])
	}
	fw, _ := mw.CreateFormFile("attachment", filename)
	fw.Write(data)
	mw.Close()
	return &b, mw.FormDataContentType()
}
