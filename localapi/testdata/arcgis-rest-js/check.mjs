// Reads and edits an offlined FeatureServer layer with arcgis-rest-js
// (@esri/arcgis-rest-feature-service 4.x) and prints a JSON summary.
// Env: LAYER (layer URL), TOKEN (offlined API token).
import { getLayer, queryFeatures, addFeatures, updateFeatures, deleteFeatures } from "@esri/arcgis-rest-feature-service";

const url = process.env.LAYER;
// A fresh params object per call: arcgis-rest-js merges options into it.
const auth = () => ({ token: process.env.TOKEN });
const out = {};
const layer = await getLayer({ url, params: auth() });
out.name = layer.name;
// Page through every feature with resultOffset / resultRecordCount.
let offset = 0, total = 0, pages = 0;
for (;;) {
  const page = await queryFeatures({ url, params: { ...auth(), resultOffset: offset, resultRecordCount: 60 }, where: "1=1", outFields: "*" });
  total += page.features.length;
  pages++;
  if (!page.exceededTransferLimit) break;
  offset += page.features.length;
}
out.total = total;
out.pages = pages;
const count = await queryFeatures({ url, params: auth(), where: "Status = 'open'", returnCountOnly: true });
out.openCount = count.count;
const added = await addFeatures({ url, params: auth(), features: [{ attributes: { InspectionID: "RESTJS-1", Status: "open" }, geometry: { x: -13051000, y: 4031000 } }] });
out.addSuccess = added.addResults[0].success;
const oid = added.addResults[0].objectId;
const updated = await updateFeatures({ url, params: auth(), features: [{ attributes: { OBJECTID: oid, Notes: "edited by arcgis-rest-js" } }] });
out.updateSuccess = updated.updateResults[0].success;
const back = await queryFeatures({ url, params: auth(), objectIds: [oid], outFields: ["Notes"] });
out.notes = back.features[0].attributes.Notes;
try {
  await addFeatures({ url, params: auth(), features: [{ attributes: { Status: "exploded" } }] });
  out.badAdd = "accepted";
} catch (e) {
  out.badAdd = e.message;
}
const deleted = await deleteFeatures({ url, params: auth(), objectIds: [oid] });
out.deleteSuccess = deleted.deleteResults[0].success;
console.log(JSON.stringify(out));
