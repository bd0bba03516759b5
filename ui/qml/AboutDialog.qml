// About Hearth: the version (hearth::kVersion) and what the app is.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Hearth

Dialog {
    id: root
    required property AppController app

    objectName: "aboutDialog"
    title: qsTr("About Hearth")
    modal: true
    footer: DialogButtonBox {
        Button {
            text: qsTr("Close")
            DialogButtonBox.buttonRole: DialogButtonBox.RejectRole
            Accessible.name: qsTr("Close about")
        }
    }

    ColumnLayout {
        spacing: 8
        Label {
            text: qsTr("Hearth")
            font.bold: true
            font.pointSize: window.font.pointSize + 6
            Accessible.name: text
        }
        Label {
            objectName: "aboutVersion"
            text: qsTr("Version %1").arg(root.app.version)
            Accessible.name: text
        }
        Label {
            text: qsTr("Local language models on your own computer.")
            wrapMode: Text.Wrap
            Layout.preferredWidth: 320
            Accessible.name: text
        }
    }
}
