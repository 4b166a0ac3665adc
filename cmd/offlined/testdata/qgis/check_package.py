"""Checks an offline package with PyQGIS (run by cmd/offlined's Go tests).

usage: check_package.py PACKAGE_DIR OUT_PNG [SERVICE_URL TOKEN]

Prints one JSON object on the last line of stdout:
  sublayers: {gpkg: [names]}        what QGIS lists in each GeoPackage
  gdal_messages: [...]              GDAL warnings/errors logged meanwhile
  project: {layers: {id: {name, valid, type}}, crs, extent}
  png: {path, width, height, colors}
  featureserver: {...}              when SERVICE_URL is given
"""
import glob
import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from osgeo import gdal  # noqa: E402
from qgis.core import (  # noqa: E402
    QgsApplication, QgsAuthMethodConfig, QgsFeatureRequest, QgsMapRendererParallelJob,
    QgsMapSettings, QgsProject, QgsProviderRegistry, QgsVectorLayer, QgsVectorDataProvider,
)
from qgis.PyQt.QtCore import QSize  # noqa: E402
from qgis.PyQt.QtGui import QColor  # noqa: E402

messages = []


def gdal_handler(cls, num, msg):
    if cls >= gdal.CE_Warning:
        messages.append(msg)


gdal.PushErrorHandler(gdal_handler)
gdal.UseExceptions()

pkg, png = sys.argv[1], sys.argv[2]
app = QgsApplication([], False)
app.initQgis()
out = {"gdal_messages": messages}

# 1. Sub-layers of every GeoPackage, as QGIS's browser lists them.
subs = {}
for g in sorted(glob.glob(os.path.join(pkg, "data", "*.gpkg"))):
    subs[os.path.basename(g)] = sorted(d.name() for d in QgsProviderRegistry.instance().querySublayers(g))
    ds = gdal.OpenEx(g, gdal.OF_VECTOR)
    for i in range(ds.GetLayerCount()):
        ds.GetLayer(i).GetFeatureCount()
    ds = None
out["sublayers"] = subs

# 2. The package's project: every layer valid.
proj = QgsProject.instance()
qgs = sorted(glob.glob(os.path.join(pkg, "*.qgs")) + glob.glob(os.path.join(pkg, "*.qgz")))
out["project_files"] = [os.path.basename(p) for p in qgs]
if qgs:
    ok = proj.read(qgs[0])
    layers = {}
    for lid, lyr in proj.mapLayers().items():
        info = {"name": lyr.name(), "valid": lyr.isValid(), "type": int(lyr.type()), "source": lyr.source()}
        if isinstance(lyr, QgsVectorLayer):
            info["features"] = lyr.featureCount()
            info["renderer"] = lyr.renderer().type() if lyr.renderer() else None
            info["aliases"] = {f.name(): f.alias() for f in lyr.fields() if f.alias()}
            info["widgets"] = {f.name(): lyr.editorWidgetSetup(i).type() for i, f in enumerate(lyr.fields())
                               if lyr.editorWidgetSetup(i).type()}
            info["scale"] = [lyr.hasScaleBasedVisibility(), lyr.minimumScale(), lyr.maximumScale()]
        layers[lid] = info
    root = proj.layerTreeRoot()
    out["project"] = {
        "read": ok, "layers": layers, "crs": proj.crs().authid(),
        "order": [n.layerId() for n in root.findLayers()],
        "visible": [n.layerId() for n in root.findLayers() if n.isVisible()],
        "relations": [r.name() for r in proj.relationManager().relations().values() if r.isValid()],
        "extent": [proj.viewSettings().defaultViewExtent().xMinimum(), proj.viewSettings().defaultViewExtent().yMinimum(),
                   proj.viewSettings().defaultViewExtent().xMaximum(), proj.viewSettings().defaultViewExtent().yMaximum()],
    }
    # 3. Render it offscreen.
    ms = QgsMapSettings()
    ms.setLayers([n.layer() for n in root.findLayers() if n.isVisible() and n.layer() is not None])
    ms.setDestinationCrs(proj.crs())
    ext = proj.viewSettings().defaultViewExtent()
    if ext.isEmpty():
        ext = ms.fullExtent()
    ms.setExtent(ext)
    ms.setOutputSize(QSize(800, 600))
    ms.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererParallelJob(ms)
    job.start()
    job.waitForFinished()
    img = job.renderedImage()
    img.save(png)
    colors = set()
    for y in range(0, img.height(), 7):
        for x in range(0, img.width(), 7):
            colors.add(img.pixel(x, y))
    out["png"] = {"path": png, "width": img.width(), "height": img.height(), "colors": len(colors)}

# 4. The local FeatureServer through QGIS's ArcGIS Feature Server provider,
# the token in an "Esri token" authentication configuration (QGIS sends it
# as X-Esri-Authorization: Bearer <token> on every request).
if len(sys.argv) >= 5:
    url, token = sys.argv[3], sys.argv[4]
    am = QgsApplication.authManager()
    am.setMasterPassword("offlined-test", True)
    cfg = QgsAuthMethodConfig("EsriToken")
    cfg.setName("offlined")
    cfg.setConfig("token", token)
    am.storeAuthenticationConfig(cfg)
    fs = {"authcfg": cfg.id()}
    lyr = QgsVectorLayer("crs='EPSG:4326' url='%s' authcfg=%s" % (url, cfg.id()), "fs", "arcgisfeatureserver")
    fs["valid"] = lyr.isValid()
    if lyr.isValid():
        feats = list(lyr.getFeatures(QgsFeatureRequest()))
        fs["count"] = len(feats)
        fs["fields"] = [f.name() for f in lyr.fields()]
        fs["features"] = [{"attrs": {k: (str(v) if v is not None else None) for k, v in zip(fs["fields"], f.attributes())},
                           "wkt": f.geometry().asWkt(6)} for f in feats]
        caps = lyr.dataProvider().capabilities()
        fs["can_add"] = bool(caps & QgsVectorDataProvider.AddFeatures)
        fs["can_change"] = bool(caps & QgsVectorDataProvider.ChangeAttributeValues)
    out["featureserver"] = fs

print(json.dumps(out, default=str))
app.exitQgis()
