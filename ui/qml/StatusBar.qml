// Model, device, KV cache use, prefix-cache hits, last generation speed.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Hearth

ToolBar {
    id: root
    required property AppController app

    RowLayout {
        anchors.fill: parent
        anchors.leftMargin: 8
        anchors.rightMargin: 8
        spacing: 16

        Label {
            objectName: "statusModel"
            text: root.app.models.state === "ready" ? root.app.models.name
                : root.app.models.state === "loading" ? qsTr("Loading %1…").arg(root.app.models.name)
                : root.app.models.state === "failed" ? qsTr("Model failed to load")
                : qsTr("No model")
            Accessible.name: qsTr("Model: %1").arg(text)
        }
        ProgressBar {
            visible: root.app.models.state === "loading"
            value: root.app.models.progress
            Layout.preferredWidth: 120
            Accessible.name: qsTr("Model loading progress")
        }
        Label {
            objectName: "statusDevice"
            visible: root.app.models.ready
            text: root.app.engine.device.length > 0 ? root.app.engine.device : "-"
            Accessible.name: qsTr("Device: %1").arg(text)
            ToolTip.visible: deviceArea.containsMouse && root.app.models.deviceReason.length > 0
            ToolTip.text: root.app.models.deviceReason
            MouseArea { id: deviceArea; anchors.fill: parent; hoverEnabled: true }
        }
        Label {
            visible: root.app.engine.kvBlocksTotal > 0
            text: qsTr("KV %1/%2 blocks").arg(root.app.engine.kvBlocksUsed).arg(root.app.engine.kvBlocksTotal)
            Accessible.name: text
        }
        Label {
            visible: root.app.engine.kvBlocksTotal > 0
            text: qsTr("prefix hits %1%").arg((root.app.engine.prefixHitRate * 100).toFixed(0))
            Accessible.name: text
        }
        Item { Layout.fillWidth: true }
        Label {
            visible: root.app.engine.lastTokensPerSecond > 0
            text: qsTr("%1 tok/s").arg(root.app.engine.lastTokensPerSecond.toFixed(1))
            Accessible.name: qsTr("Last speed: %1").arg(text)
        }
    }
}
