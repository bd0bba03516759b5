// Conversations: new, search (full text), open, rename, delete with undo, export to Markdown or
// JSON and import JSON (the file is chosen with a FileDialog; app.transfer does the work).
import QtQuick
import QtQuick.Controls
import QtQuick.Dialogs
import QtQuick.Layouts
import Hearth

Pane {
    id: root
    required property AppController app
    signal settingsRequested()
    signal aboutRequested()
    signal chatOpened()

    function focusSearch() {
        search.forceActiveFocus()
        search.selectAll()
    }

    padding: 8

    ColumnLayout {
        anchors.fill: parent
        spacing: 6

        RowLayout {
            Layout.fillWidth: true
            Button {
                objectName: "newChatButton"
                text: qsTr("New chat")
                Layout.fillWidth: true
                Accessible.name: qsTr("New chat (Ctrl+N)")
                onClicked: {
                    root.app.chat.newConversation()
                    root.chatOpened()
                }
            }
            ToolButton {
                objectName: "importButton"
                text: "\u2913"
                enabled: !root.app.transfer.busy
                Accessible.name: qsTr("Import conversation from JSON")
                ToolTip.visible: hovered
                ToolTip.text: qsTr("Import conversation (JSON)")
                onClicked: importDialog.open()
            }
            ToolButton {
                text: "\u2699"
                Accessible.name: qsTr("Settings (Ctrl+,)")
                ToolTip.visible: hovered
                ToolTip.text: qsTr("Settings (Ctrl+,)")
                onClicked: root.settingsRequested()
            }
            ToolButton {
                objectName: "aboutButton"
                text: "?"
                Accessible.name: qsTr("About Hearth")
                ToolTip.visible: hovered
                ToolTip.text: qsTr("About Hearth")
                onClicked: root.aboutRequested()
            }
        }

        TextField {
            id: search
            objectName: "searchField"
            Layout.fillWidth: true
            placeholderText: qsTr("Search (Ctrl+F)")
            Accessible.name: qsTr("Search conversations")
            onTextChanged: root.app.conversations.searchText = text
            Keys.onEscapePressed: text = ""
        }

        ListView {
            id: list
            objectName: "conversationList"
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            model: root.app.conversations
            Accessible.name: qsTr("Conversations")
            ScrollBar.vertical: ScrollBar { Accessible.name: qsTr("Scroll conversations") }

            delegate: ItemDelegate {
                id: entry
                required property int index
                required property var conversationId
                required property string title
                required property string snippet
                width: ListView.view.width
                highlighted: conversationId === root.app.chat.conversationId
                Accessible.name: qsTr("Conversation: %1").arg(title)
                onClicked: {
                    root.app.chat.open(conversationId)
                    root.chatOpened()
                }

                contentItem: RowLayout {
                    ColumnLayout {
                        Layout.fillWidth: true
                        spacing: 2
                        Label {
                            text: entry.title
                            elide: Text.ElideRight
                            Layout.fillWidth: true
                        }
                        Label {
                            visible: entry.snippet.length > 0
                            text: entry.snippet
                            elide: Text.ElideRight
                            opacity: 0.7
                            font.pointSize: Math.max(6, root.app.settings.fontSize - 2)
                            Layout.fillWidth: true
                        }
                    }
                    ToolButton {
                        text: "\u22ef"
                        Accessible.name: qsTr("Actions for %1").arg(entry.title)
                        onClicked: actions.popup()
                        Menu {
                            id: actions
                            MenuItem {
                                text: qsTr("Rename…")
                                Accessible.name: qsTr("Rename conversation")
                                onTriggered: renameDialog.ask(entry.conversationId, entry.title)
                            }
                            MenuItem {
                                text: qsTr("Export as Markdown…")
                                Accessible.name: qsTr("Export conversation as Markdown")
                                onTriggered: exportDialog.ask(entry.conversationId, entry.title, "md")
                            }
                            MenuItem {
                                text: qsTr("Export as JSON…")
                                Accessible.name: qsTr("Export conversation as JSON")
                                onTriggered: exportDialog.ask(entry.conversationId, entry.title, "json")
                            }
                            MenuItem {
                                text: qsTr("Delete")
                                Accessible.name: qsTr("Delete conversation")
                                onTriggered: root.app.conversations.remove(entry.conversationId)
                            }
                        }
                    }
                }
            }
        }

        // The outcome of the last export or import.
        RowLayout {
            visible: root.app.transfer.message.length > 0
            Layout.fillWidth: true
            Label {
                objectName: "transferMessage"
                text: root.app.transfer.message
                color: root.app.transfer.error.length > 0 ? window.errorColor : window.subtleColor
                wrapMode: Text.Wrap
                Layout.fillWidth: true
                Accessible.name: text
            }
            ToolButton {
                text: "\u2715"
                Accessible.name: qsTr("Dismiss export message")
                onClicked: root.app.transfer.clearMessage()
            }
        }

        // Undo of the last delete.
        RowLayout {
            visible: root.app.conversations.canUndo
            Layout.fillWidth: true
            Label {
                text: qsTr("Deleted “%1”").arg(root.app.conversations.undoTitle)
                elide: Text.ElideRight
                Layout.fillWidth: true
            }
            Button {
                objectName: "undoDeleteButton"
                text: qsTr("Undo")
                Accessible.name: qsTr("Undo delete")
                onClicked: root.app.conversations.undoRemove()
            }
        }
    }

    Dialog {
        id: renameDialog
        property var conversationId: 0
        function ask(id, title) {
            conversationId = id
            titleField.text = title
            open()
            titleField.forceActiveFocus()
            titleField.selectAll()
        }
        parent: Overlay.overlay
        anchors.centerIn: parent
        modal: true
        title: qsTr("Rename conversation")
        footer: DialogButtonBox {
            Button {
                text: qsTr("Rename")
                DialogButtonBox.buttonRole: DialogButtonBox.AcceptRole
                Accessible.name: qsTr("Rename")
            }
            Button {
                text: qsTr("Cancel")
                DialogButtonBox.buttonRole: DialogButtonBox.RejectRole
                Accessible.name: qsTr("Cancel renaming")
            }
        }
        onAccepted: root.app.conversations.rename(conversationId, titleField.text)
        TextField {
            id: titleField
            implicitWidth: 320
            Accessible.name: qsTr("Conversation title")
            onAccepted: renameDialog.accept()
        }
    }

    FileDialog {
        id: exportDialog
        objectName: "exportDialog"
        property var conversationId: 0
        property string format: "md"
        function ask(id, title, fmt) {
            conversationId = id
            format = fmt
            const safe = title.replace(/[^A-Za-z0-9._ -]/g, "_").trim()
            selectedFile = (safe.length > 0 ? safe : "conversation") + "." + fmt
            open()
        }
        title: format === "md" ? qsTr("Export as Markdown") : qsTr("Export as JSON")
        fileMode: FileDialog.SaveFile
        nameFilters: format === "md" ? [qsTr("Markdown (*.md)")] : [qsTr("JSON (*.json)")]
        onAccepted: {
            if (format === "md")
                root.app.transfer.exportMarkdown(conversationId, selectedFile.toString())
            else
                root.app.transfer.exportJson(conversationId, selectedFile.toString())
        }
    }

    FileDialog {
        id: importDialog
        objectName: "importDialog"
        title: qsTr("Import a conversation")
        fileMode: FileDialog.OpenFile
        nameFilters: [qsTr("Hearth conversation (*.json)")]
        onAccepted: root.app.transfer.importJson(selectedFile.toString())
    }
}
