// Models: the model running now (load progress, device and why, unload), opening a GGUF file or a
// recent one, what a file is and how much GPU memory it would need before loading it, and
// downloads (a URL or the curated catalog) with progress, pause/resume and errors.
import QtQuick
import QtQuick.Controls
import QtQuick.Dialogs
import QtQuick.Layouts
import Hearth

Dialog {
    id: root
    required property AppController app
    readonly property ModelManager models: app.models
    readonly property DownloadManager downloads: app.downloads
    // The file the info and estimate are about: the loaded model until another is chosen.
    property string selectedPath: ""
    readonly property var candidate: models.candidate
    readonly property var memory: candidate.memory !== undefined ? candidate.memory : ({})

    objectName: "modelsDialog"
    title: qsTr("Models")
    modal: true
    footer: DialogButtonBox {
        Button {
            text: qsTr("Close")
            DialogButtonBox.buttonRole: DialogButtonBox.RejectRole
            Accessible.name: qsTr("Close models")
        }
    }
    width: Math.min(720, parent ? parent.width - 40 : 720)
    height: Math.min(760, parent ? parent.height - 40 : 760)

    function choose(pathOrUrl) {
        selectedPath = pathOrUrl
        models.inspect(pathOrUrl)
    }
    function loadSelected(path) {
        models.load(path)
    }
    onOpened: choose(selectedPath.length > 0 ? selectedPath : models.path)

    FileDialog {
        id: openDialog
        title: qsTr("Open a GGUF model")
        nameFilters: [qsTr("GGUF models (*.gguf)"), qsTr("All files (*)")]
        onAccepted: root.choose(selectedFile.toString())
    }

    component SectionTitle: Label {
        font.bold: true
        Layout.topMargin: 8
        Layout.fillWidth: true
    }
    component ErrorText: Label {
        visible: text.length > 0
        color: "#b3261e"
        wrapMode: Text.Wrap
        Layout.fillWidth: true
        Accessible.role: Accessible.AlertMessage
        Accessible.name: text
    }

    ScrollView {
        id: scroll
        anchors.fill: parent
        contentWidth: availableWidth
        ScrollBar.vertical: ScrollBar { Accessible.name: qsTr("Scroll models") }
        ScrollBar.horizontal: ScrollBar { policy: ScrollBar.AlwaysOff; Accessible.name: qsTr("Scroll models sideways") }

        ColumnLayout {
            width: scroll.availableWidth
            spacing: 6

            // --- The model running now.
            SectionTitle { text: qsTr("Current model") }
            RowLayout {
                Layout.fillWidth: true
                Label {
                    objectName: "currentModelLabel"
                    text: root.models.name.length > 0 ? qsTr("%1 (%2)").arg(root.models.name).arg(root.models.state) : qsTr("none")
                    elide: Text.ElideMiddle
                    Layout.fillWidth: true
                }
                Button {
                    objectName: "unloadModelButton"
                    text: qsTr("Unload")
                    enabled: root.models.ready
                    Accessible.name: qsTr("Unload the model")
                    onClicked: root.models.unload()
                }
            }
            ProgressBar {
                objectName: "modelLoadProgress"
                visible: root.models.state === "loading"
                value: root.models.progress
                Layout.fillWidth: true
                Accessible.name: qsTr("Model loading progress")
            }
            Label {
                objectName: "modelDeviceLabel"
                text: root.models.deviceReason.length > 0 ? root.models.deviceReason : root.app.engine.device
                visible: text.length > 0
                wrapMode: Text.Wrap
                Layout.fillWidth: true
            }
            ErrorText { text: root.models.state === "failed" ? root.models.error : "" }

            // --- Choosing a file.
            SectionTitle { text: qsTr("Open a model") }
            Button {
                objectName: "openModelFileButton"
                text: qsTr("Open GGUF file…")
                Accessible.name: qsTr("Open a GGUF model file")
                onClicked: {
                    openDialog.currentFolder = root.downloads.modelsDirUrl
                    openDialog.open()
                }
            }
            Label {
                text: qsTr("Recent models")
                visible: root.models.recentModels.length > 0
            }
            Repeater {
                model: root.models.recentModels
                delegate: RowLayout {
                    id: recentRow
                    required property string modelData
                    Layout.fillWidth: true
                    Label {
                        text: recentRow.modelData
                        elide: Text.ElideMiddle
                        Layout.fillWidth: true
                    }
                    Button {
                        text: qsTr("Select")
                        Accessible.name: qsTr("Show information about %1").arg(recentRow.modelData)
                        onClicked: root.choose(recentRow.modelData)
                    }
                    Button {
                        text: qsTr("Forget")
                        Accessible.name: qsTr("Remove %1 from the recent models").arg(recentRow.modelData)
                        onClicked: root.models.forgetRecent(recentRow.modelData)
                    }
                }
            }

            // --- What the chosen file is, and whether it fits.
            SectionTitle { text: qsTr("Model information") }
            Label {
                objectName: "candidatePathLabel"
                text: root.candidate.path !== undefined ? root.candidate.path : (root.selectedPath.length > 0 ? qsTr("Reading…") : qsTr("No file chosen"))
                elide: Text.ElideMiddle
                Layout.fillWidth: true
            }
            ErrorText {
                objectName: "candidateError"
                text: root.candidate.error !== undefined ? qsTr("Cannot read this file: %1").arg(root.candidate.error) : ""
            }
            GridLayout {
                visible: root.candidate.architecture !== undefined
                columns: 2
                columnSpacing: 12
                Layout.fillWidth: true
                Label { text: qsTr("Architecture") }
                Label {
                    objectName: "candidateArchitecture"
                    text: root.candidate.architecture !== undefined ? root.candidate.architecture : ""
                }
                Label { text: qsTr("Name") }
                Label { text: root.candidate.name !== undefined ? root.candidate.name : "" }
                Label { text: qsTr("Parameters") }
                Label { text: root.candidate.parameters !== undefined ? root.candidate.parameters : "" }
                Label { text: qsTr("Quantization") }
                Label { text: root.candidate.quantization !== undefined ? root.candidate.quantization : "" }
                Label { text: qsTr("Trained context") }
                Label { text: root.candidate.contextLength !== undefined ? qsTr("%1 tokens").arg(root.candidate.contextLength) : "" }
                Label { text: qsTr("Chat template") }
                Label { text: root.candidate.chatTemplate === true ? qsTr("in the file") : qsTr("none (a built-in one is used)") }
                Label { text: qsTr("File size") }
                Label { text: root.candidate.fileSize !== undefined ? root.candidate.fileSize : "" }
                Label { text: qsTr("GPU memory") }
                Label {
                    objectName: "memoryEstimateLabel"
                    text: root.memory.verdict !== undefined ? root.memory.verdict : ""
                    wrapMode: Text.Wrap
                    Layout.fillWidth: true
                }
            }
            Button {
                objectName: "loadSelectedButton"
                text: root.models.ready ? qsTr("Switch to this model") : qsTr("Load")
                enabled: root.candidate.architecture !== undefined && root.models.state !== "loading"
                Accessible.name: root.models.ready ? qsTr("Switch to the chosen model") : qsTr("Load the chosen model")
                onClicked: root.loadSelected(root.candidate.path)
            }

            // --- Downloads.
            SectionTitle { text: qsTr("Download a model") }
            Label {
                text: qsTr("Files are saved in %1").arg(root.downloads.modelsDir)
                wrapMode: Text.WrapAnywhere
                Layout.fillWidth: true
            }
            Repeater {
                model: root.downloads.catalog
                delegate: RowLayout {
                    id: entry
                    required property var modelData
                    required property int index
                    readonly property bool installed: {
                        root.downloads.installedRevision  // re-evaluated when a download lands
                        return root.downloads.isInstalled(modelData.file)
                    }
                    Layout.fillWidth: true
                    ColumnLayout {
                        Layout.fillWidth: true
                        spacing: 0
                        Label {
                            text: qsTr("%1 · %2 · %3").arg(entry.modelData.name).arg(entry.modelData.sizeText).arg(entry.modelData.license)
                            wrapMode: Text.Wrap
                            Layout.fillWidth: true
                        }
                        Label {
                            text: entry.modelData.description
                            wrapMode: Text.Wrap
                            opacity: 0.7
                            Layout.fillWidth: true
                        }
                    }
                    Button {
                        objectName: "catalogDownloadButton"
                        text: entry.installed ? qsTr("Load") : qsTr("Download")
                        Accessible.name: entry.installed ? qsTr("Load %1").arg(entry.modelData.name) : qsTr("Download %1").arg(entry.modelData.name)
                        onClicked: entry.installed ? root.loadSelected(root.downloads.pathOf(entry.modelData.file))
                                                   : root.downloads.downloadCatalogEntry(entry.index, false)
                    }
                }
            }
            RowLayout {
                Layout.fillWidth: true
                TextField {
                    id: urlField
                    objectName: "downloadUrlField"
                    placeholderText: qsTr("https://…/model.gguf")
                    Layout.fillWidth: true
                    Accessible.name: qsTr("Address of a GGUF file to download")
                }
                Button {
                    objectName: "downloadUrlButton"
                    text: qsTr("Download")
                    enabled: urlField.text.length > 0
                    Accessible.name: qsTr("Download the file at this address")
                    onClicked: root.downloads.downloadUrl(urlField.text, shaField.text, replaceBox.checked)
                }
            }
            RowLayout {
                Layout.fillWidth: true
                TextField {
                    id: shaField
                    objectName: "downloadShaField"
                    placeholderText: qsTr("SHA-256 (optional)")
                    Layout.fillWidth: true
                    Accessible.name: qsTr("Expected SHA-256 of the download (optional)")
                }
                CheckBox {
                    id: replaceBox
                    text: qsTr("Replace an existing file")
                    Accessible.name: qsTr("Replace a file of the same name")
                }
            }
            ErrorText {
                objectName: "downloadRequestError"
                text: root.downloads.error
            }
            Repeater {
                model: root.downloads.jobs
                delegate: DownloadRow {
                    required property var modelData
                    job: modelData
                    Layout.fillWidth: true
                    onLoadRequested: path => root.loadSelected(path)
                    onRemoveRequested: root.downloads.removeJob(modelData)
                }
            }
        }
    }
}
