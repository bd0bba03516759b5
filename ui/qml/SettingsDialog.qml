// Settings (Ctrl+,): the model, this conversation's system prompt, sampling, context, look.
// Controls write straight into app.settings, which saves them.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Hearth

Dialog {
    id: root
    required property AppController app
    readonly property SettingsModel settings: app.settings

    objectName: "settingsDialog"
    title: qsTr("Settings")
    modal: true
    footer: DialogButtonBox {
        Button {
            text: qsTr("Close")
            DialogButtonBox.buttonRole: DialogButtonBox.RejectRole
            Accessible.name: qsTr("Close settings")
        }
    }
    width: Math.min(620, parent ? parent.width - 40 : 620)
    height: Math.min(640, parent ? parent.height - 40 : 640)

    ScrollView {
        id: scroll
        anchors.fill: parent
        contentWidth: availableWidth
        ScrollBar.vertical: ScrollBar { Accessible.name: qsTr("Scroll settings") }
        ScrollBar.horizontal: ScrollBar { policy: ScrollBar.AlwaysOff; Accessible.name: qsTr("Scroll settings sideways") }

        GridLayout {
            width: scroll.availableWidth
            columns: 2
            columnSpacing: 12
            rowSpacing: 6

            Label { text: qsTr("Model"); font.bold: true; Layout.columnSpan: 2 }
            Label { text: qsTr("File") }
            Label {
                text: root.app.models.path.length > 0 ? root.app.models.path : qsTr("none")
                elide: Text.ElideMiddle
                Layout.fillWidth: true
            }
            Label { text: qsTr("State") }
            RowLayout {
                Layout.fillWidth: true
                Label { text: root.app.models.state }
                ProgressBar {
                    visible: root.app.models.state === "loading"
                    value: root.app.models.progress
                    Layout.fillWidth: true
                    Accessible.name: qsTr("Model loading progress")
                }
            }
            Label { text: qsTr("About") }
            Label {
                objectName: "modelInfoLabel"
                readonly property var info: root.app.models.info
                text: info.error !== undefined ? qsTr("Cannot read: %1").arg(info.error)
                    : info.architecture === undefined ? "…"
                    : qsTr("%1 · %2 parameters · %3 · trained context %4 · %5 · chat template: %6")
                        .arg(info.name.length > 0 ? info.name + " (" + info.architecture + ")" : info.architecture)
                        .arg(info.parameters).arg(info.quantization).arg(info.contextLength)
                        .arg(info.fileSize).arg(info.chatTemplate ? qsTr("yes") : qsTr("built-in"))
                wrapMode: Text.Wrap
                Layout.fillWidth: true
                Accessible.name: qsTr("Model information: %1").arg(text)
            }
            Label { text: qsTr("Device") }
            Label {
                text: root.app.models.deviceReason.length > 0 ? root.app.models.deviceReason : root.app.engine.device
                wrapMode: Text.Wrap
                Layout.fillWidth: true
            }
            Label { text: qsTr("Open GGUF") }
            RowLayout {
                Layout.fillWidth: true
                ComboBox {
                    id: modelPath
                    editable: true
                    model: root.app.models.recentModels
                    Layout.fillWidth: true
                    Accessible.name: qsTr("Model file path")
                }
                Button {
                    text: qsTr("Load")
                    Accessible.name: qsTr("Load model")
                    onClicked: root.app.models.load(modelPath.editText)
                }
                Button {
                    text: qsTr("Unload")
                    enabled: root.app.models.ready
                    Accessible.name: qsTr("Unload model")
                    onClicked: root.app.models.unload()
                }
            }

            Label { text: qsTr("This conversation"); font.bold: true; Layout.columnSpan: 2 }
            Label { text: qsTr("System prompt") }
            TextArea {
                Layout.fillWidth: true
                wrapMode: TextEdit.Wrap
                text: root.app.chat.systemPrompt
                placeholderText: qsTr("Always kept, also when the context is full")
                Accessible.name: qsTr("System prompt")
                onEditingFinished: root.app.chat.systemPrompt = text
            }
            // Presets: a system prompt + sampling, given to this conversation (its sampling then
            // overrides the settings below for it).
            Label { text: qsTr("Preset") }
            ColumnLayout {
                Layout.fillWidth: true
                RowLayout {
                    Layout.fillWidth: true
                    ComboBox {
                        id: presetBox
                        objectName: "presetBox"
                        model: root.app.presets
                        textRole: "name"
                        Layout.fillWidth: true
                        enabled: count > 0
                        displayText: count > 0 ? currentText : qsTr("No presets yet")
                        Accessible.name: qsTr("Preset")
                    }
                    Button {
                        text: qsTr("Apply")
                        enabled: presetBox.count > 0
                        Accessible.name: qsTr("Apply preset to this conversation")
                        onClicked: root.app.presets.apply(presetBox.currentText)
                    }
                    Button {
                        text: qsTr("Delete")
                        enabled: presetBox.count > 0
                        Accessible.name: qsTr("Delete preset")
                        onClicked: root.app.presets.remove(presetBox.currentText)
                    }
                }
                RowLayout {
                    Layout.fillWidth: true
                    TextField {
                        id: presetName
                        Layout.fillWidth: true
                        placeholderText: qsTr("New preset name")
                        Accessible.name: qsTr("New preset name")
                    }
                    Button {
                        text: qsTr("Save current as preset")
                        enabled: presetName.text.trim().length > 0
                        Accessible.name: qsTr("Save current system prompt and sampling as a preset")
                        onClicked: {
                            root.app.presets.saveCurrent(presetName.text)
                            presetName.text = ""
                        }
                    }
                }
                RowLayout {
                    visible: root.app.chat.presetName.length > 0
                    Label {
                        text: qsTr("Using preset “%1” (its sampling overrides the settings below)").arg(root.app.chat.presetName)
                        wrapMode: Text.Wrap
                        Layout.fillWidth: true
                        Accessible.name: text
                    }
                    Button {
                        text: qsTr("Use settings")
                        Accessible.name: qsTr("Stop using the preset's sampling")
                        onClicked: root.app.chat.clearPreset()
                    }
                }
                Label {
                    visible: root.app.presets.error.length > 0
                    text: root.app.presets.error
                    color: window.errorColor
                    wrapMode: Text.Wrap
                    Layout.fillWidth: true
                    Accessible.name: text
                }
            }

            Label { text: qsTr("Sampling"); font.bold: true; Layout.columnSpan: 2 }
            Label { text: qsTr("Temperature %1").arg(root.settings.temperature.toFixed(2)) }
            Slider {
                objectName: "temperatureSlider"
                from: 0; to: 2; stepSize: 0.05
                value: root.settings.temperature
                Layout.fillWidth: true
                Accessible.name: qsTr("Temperature")
                onMoved: root.settings.temperature = value
            }
            Label { text: qsTr("Top-p %1").arg(root.settings.topP.toFixed(2)) }
            Slider {
                from: 0; to: 1; stepSize: 0.01
                value: root.settings.topP
                Layout.fillWidth: true
                Accessible.name: qsTr("Top-p")
                onMoved: root.settings.topP = value
            }
            Label { text: qsTr("Min-p %1").arg(root.settings.minP.toFixed(2)) }
            Slider {
                from: 0; to: 1; stepSize: 0.01
                value: root.settings.minP
                Layout.fillWidth: true
                Accessible.name: qsTr("Min-p")
                onMoved: root.settings.minP = value
            }
            Label { text: qsTr("Repeat penalty %1").arg(root.settings.repeatPenalty.toFixed(2)) }
            Slider {
                from: 1; to: 2; stepSize: 0.01
                value: root.settings.repeatPenalty
                Layout.fillWidth: true
                Accessible.name: qsTr("Repeat penalty")
                onMoved: root.settings.repeatPenalty = value
            }
            Label { text: qsTr("Top-k (0: off)") }
            SpinBox {
                from: 0; to: 1000
                value: root.settings.topK
                editable: true
                Accessible.name: qsTr("Top-k")
                onValueModified: root.settings.topK = value
            }
            Label { text: qsTr("Seed (0: random)") }
            SpinBox {
                from: 0; to: 2147483647
                value: root.settings.seed
                editable: true
                Accessible.name: qsTr("Seed")
                onValueModified: root.settings.seed = value
            }
            Label { text: qsTr("Reply length (tokens)") }
            SpinBox {
                from: 1; to: 32768
                value: root.settings.maxTokens
                editable: true
                Accessible.name: qsTr("Maximum reply tokens")
                onValueModified: root.settings.maxTokens = value
            }

            Label { text: qsTr("Context"); font.bold: true; Layout.columnSpan: 2 }
            Label { text: qsTr("Length (0: model default; next load)") }
            SpinBox {
                from: 0; to: 1048576; stepSize: 512
                value: root.settings.contextLength
                editable: true
                Accessible.name: qsTr("Context length")
                onValueModified: root.settings.contextLength = value
            }
            Label { text: qsTr("GPU layers (-1: all, 0: CPU only; next load)") }
            SpinBox {
                from: -1; to: 4096
                value: root.settings.gpuLayers
                editable: true
                Accessible.name: qsTr("Layers on the GPU")
                Accessible.description: qsTr("For a model larger than the GPU memory: the first layers run on the GPU, the rest on the CPU")
                onValueModified: root.settings.gpuLayers = value
            }
            Label { text: qsTr("When full") }
            ComboBox {
                textRole: "text"
                valueRole: "value"
                model: [
                    { value: "truncate", text: qsTr("Drop the oldest turns (keep the system prompt)") },
                    { value: "error", text: qsTr("Stop with an error") }
                ]
                currentIndex: root.settings.overflowPolicy === "error" ? 1 : 0
                Layout.fillWidth: true
                Accessible.name: qsTr("Context overflow policy")
                onActivated: root.settings.overflowPolicy = currentValue
            }

            Label { text: qsTr("Speculative decoding"); font.bold: true; Layout.columnSpan: 2 }
            Label { text: qsTr("Mode") }
            ComboBox {
                objectName: "specModeBox"
                textRole: "text"
                valueRole: "value"
                model: [
                    { value: "off", text: qsTr("Off") },
                    { value: "ngram", text: qsTr("N-gram lookup") },
                    { value: "draft", text: qsTr("Draft model") },
                    { value: "auto", text: qsTr("Automatic (where it pays)") }
                ]
                currentIndex: Math.max(0, ["off", "ngram", "draft", "auto"].indexOf(root.settings.specMode))
                Layout.fillWidth: true
                Accessible.name: qsTr("Speculative decoding mode")
                onActivated: root.settings.specMode = currentValue
            }
            Label { text: qsTr("Draft model (next load)") }
            TextField {
                Layout.fillWidth: true
                enabled: root.settings.specMode === "draft" || root.settings.specMode === "auto"
                text: root.settings.draftModelPath
                placeholderText: qsTr("Path of a small GGUF with the same vocabulary")
                Accessible.name: qsTr("Draft model path")
                onEditingFinished: root.settings.draftModelPath = text
            }

            Label { text: qsTr("API server"); font.bold: true; Layout.columnSpan: 2 }
            Label { text: qsTr("OpenAI-compatible API") }
            Switch {
                objectName: "apiSwitch"
                checked: root.settings.apiEnabled
                text: root.app.apiServer.state === "running" ? root.app.apiServer.url
                      : root.app.apiServer.state === "starting" ? qsTr("Starting…") : qsTr("Off")
                Accessible.name: qsTr("Run the API server")
                onToggled: root.settings.apiEnabled = checked
            }
            Label { text: qsTr("Port") }
            SpinBox {
                from: 1; to: 65535
                value: root.settings.apiPort
                editable: true
                textFromValue: function(value) { return value.toString() }
                Accessible.name: qsTr("API server port")
                onValueModified: root.settings.apiPort = value
            }
            Label { text: qsTr("API key") }
            TextField {
                Layout.fillWidth: true
                text: root.settings.apiKey
                echoMode: TextInput.PasswordEchoOnEdit
                placeholderText: qsTr("Optional on this computer; required for the network")
                Accessible.name: qsTr("API key")
                onEditingFinished: root.settings.apiKey = text
            }
            Label { text: qsTr("Network") }
            CheckBox {
                checked: root.settings.apiAllowLan
                text: qsTr("Allow other computers on the local network (needs a key)")
                Accessible.name: qsTr("Allow the local network")
                onToggled: root.settings.apiAllowLan = checked
            }
            Label {
                objectName: "apiServerError"
                visible: root.app.apiServer.error.length > 0
                text: qsTr("API server: %1").arg(root.app.apiServer.error)
                color: window.errorColor
                wrapMode: Text.Wrap
                Layout.columnSpan: 2
                Layout.fillWidth: true
                Accessible.name: text
            }

            Label { text: qsTr("Look"); font.bold: true; Layout.columnSpan: 2 }
            Label { text: qsTr("Theme") }
            ComboBox {
                textRole: "text"
                valueRole: "value"
                model: [
                    { value: "system", text: qsTr("System") },
                    { value: "light", text: qsTr("Light") },
                    { value: "dark", text: qsTr("Dark") }
                ]
                currentIndex: root.settings.theme === "dark" ? 2 : root.settings.theme === "light" ? 1 : 0
                Accessible.name: qsTr("Theme")
                onActivated: root.settings.theme = currentValue
            }
            Label { text: qsTr("Font size") }
            SpinBox {
                from: 6; to: 32
                value: root.settings.fontSize
                Accessible.name: qsTr("Font size")
                onValueModified: root.settings.fontSize = value
            }
            Item { Layout.fillWidth: true }
            Button {
                text: qsTr("Reset to defaults")
                Accessible.name: qsTr("Reset settings to defaults")
                onClicked: root.settings.resetToDefaults()
            }
        }
    }
}
