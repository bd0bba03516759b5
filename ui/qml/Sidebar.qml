// Conversations: new, search (full text), open, rename, delete with undo.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Hearth

Pane {
    id: root
    required property AppController app
    signal settingsRequested()
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
                text: "\u2699"
                Accessible.name: qsTr("Settings (Ctrl+,)")
                ToolTip.visible: hovered
                ToolTip.text: qsTr("Settings (Ctrl+,)")
                onClicked: root.settingsRequested()
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
                                text: qsTr("Delete")
                                Accessible.name: qsTr("Delete conversation")
                                onTriggered: root.app.conversations.remove(entry.conversationId)
                            }
                        }
                    }
                }
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
}
