// One message: Markdown text (assistant) or plain text (user), copy, edit (user: a new branch),
// regenerate (assistant), < i/n > arrows between branches, and the generation's stats. A message
// the engine left out of the last prompt (context full) is dimmed, with a note.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Hearth

Item {
    id: root
    required property AppController app
    required property int index
    required property string role
    required property string content
    required property bool streaming
    required property string errorText
    required property double ttftMs
    required property double tokensPerSecond
    required property var tokens
    required property string device
    required property string finishReason
    required property var truncatedTokens
    required property var cachedTokens
    required property var restoredTokens
    required property int branchIndex
    required property int branchCount
    required property bool dropped
    required property double joulesPerToken

    readonly property bool isUser: role === "user"
    property bool editing: false

    implicitHeight: column.implicitHeight

    ColumnLayout {
        id: column
        opacity: root.dropped ? 0.45 : 1.0
        anchors.left: parent.left
        anchors.right: parent.right
        anchors.leftMargin: 16
        anchors.rightMargin: 16
        spacing: 4

        Label {
            text: root.isUser ? qsTr("You") : qsTr("Assistant")
            font.bold: true
            opacity: 0.8
        }

        Rectangle {
            Layout.fillWidth: true
            visible: !root.editing
            implicitHeight: body.implicitHeight + 16
            radius: 6
            color: root.isUser ? window.userBubbleColor : "transparent"

            TextEdit {
                id: body
                objectName: "messageText"
                anchors.fill: parent
                anchors.margins: 8
                text: root.content.length > 0 || !root.streaming ? root.content : "…"
                textFormat: root.isUser ? TextEdit.PlainText : TextEdit.MarkdownText
                readOnly: true
                selectByMouse: true
                wrapMode: TextEdit.Wrap
                color: window.textColor
                selectedTextColor: window.backgroundColor
                selectionColor: window.subtleColor
                font: window.font
                Accessible.role: Accessible.StaticText
                Accessible.name: (root.isUser ? qsTr("Your message: ") : qsTr("Assistant message: ")) + root.content
            }
        }

        // Editing a user message sends it as a new branch; the old one stays reachable.
        ColumnLayout {
            visible: root.editing
            Layout.fillWidth: true
            TextArea {
                id: editor
                objectName: "editField"
                Layout.fillWidth: true
                wrapMode: TextEdit.Wrap
                Accessible.name: qsTr("Edit message")
                Keys.onEscapePressed: root.editing = false
            }
            RowLayout {
                Button {
                    text: qsTr("Send as new branch")
                    Accessible.name: qsTr("Send edited message")
                    onClicked: {
                        if (root.app.chat.editMessage(root.index, editor.text))
                            root.editing = false
                    }
                }
                Button {
                    text: qsTr("Cancel")
                    Accessible.name: qsTr("Cancel editing")
                    onClicked: root.editing = false
                }
            }
        }

        Label {
            objectName: "droppedNote"
            visible: root.dropped
            text: qsTr("Not seen by the model in the last reply: the context was full")
            font.italic: true
            font.pointSize: Math.max(6, window.font.pointSize - 2)
            wrapMode: Text.Wrap
            Layout.fillWidth: true
            Accessible.name: text
        }

        Label {
            objectName: "messageError"
            visible: root.errorText.length > 0
            text: qsTr("Error: %1").arg(root.errorText)
            color: window.errorColor
            wrapMode: Text.Wrap
            Layout.fillWidth: true
            Accessible.name: text
        }

        RowLayout {
            spacing: 2
            visible: !root.streaming && !root.editing

            ToolButton {
                text: "\u2039"
                visible: root.branchCount > 1
                enabled: root.branchIndex > 0 && !root.app.chat.busy
                Accessible.name: qsTr("Previous branch")
                onClicked: root.app.chat.switchBranch(root.index, -1)
            }
            Label {
                visible: root.branchCount > 1
                text: (root.branchIndex + 1) + "/" + root.branchCount
                Accessible.name: qsTr("Branch %1 of %2").arg(root.branchIndex + 1).arg(root.branchCount)
            }
            ToolButton {
                text: "\u203a"
                visible: root.branchCount > 1
                enabled: root.branchIndex + 1 < root.branchCount && !root.app.chat.busy
                Accessible.name: qsTr("Next branch")
                onClicked: root.app.chat.switchBranch(root.index, 1)
            }
            ToolButton {
                text: qsTr("Copy")
                Accessible.name: qsTr("Copy message")
                onClicked: root.app.copyText(root.content)
            }
            ToolButton {
                visible: root.isUser
                enabled: !root.app.chat.busy
                text: qsTr("Edit")
                Accessible.name: qsTr("Edit message")
                onClicked: {
                    editor.text = root.content
                    root.editing = true
                    editor.forceActiveFocus()
                }
            }
            ToolButton {
                visible: !root.isUser
                enabled: !root.app.chat.busy
                text: qsTr("Regenerate")
                Accessible.name: qsTr("Regenerate reply")
                onClicked: root.app.chat.regenerate(root.index)
            }
            Label {
                visible: !root.isUser && root.tokens > 0
                text: qsTr("%1 tokens · %2 tok/s · first token %3 ms · %4%5")
                      .arg(root.tokens).arg(root.tokensPerSecond.toFixed(1)).arg(root.ttftMs.toFixed(0))
                      .arg(root.device)
                      .arg(root.finishReason === "cancelled" ? qsTr(" · stopped")
                           : root.finishReason === "length" ? qsTr(" · length limit") : "")
                opacity: 0.6
                font.pointSize: Math.max(6, window.font.pointSize - 2)
                Accessible.name: text
            }
            Label {
                objectName: "restoredLabel"
                visible: !root.isUser && !root.streaming && (root.restoredTokens > 0 || root.cachedTokens > 0)
                text: root.restoredTokens > 0 ? qsTr("· restored %1 tokens from cache").arg(root.restoredTokens)
                                              : qsTr("· %1 prompt tokens from cache").arg(root.cachedTokens)
                opacity: 0.6
                font.pointSize: Math.max(6, window.font.pointSize - 2)
                Accessible.name: text
            }
            Label {
                objectName: "energyLabel"
                visible: !root.isUser && !root.streaming && root.joulesPerToken > 0
                text: qsTr("· %1 J/token").arg(root.joulesPerToken.toFixed(3))
                opacity: 0.6
                font.pointSize: Math.max(6, window.font.pointSize - 2)
                Accessible.name: qsTr("%1 joules per token").arg(root.joulesPerToken.toFixed(3))
            }
            Label {
                visible: !root.isUser && root.truncatedTokens > 0
                text: qsTr("· %1 earlier tokens dropped (context full)").arg(root.truncatedTokens)
                opacity: 0.6
                font.pointSize: Math.max(6, window.font.pointSize - 2)
                Accessible.name: text
            }
        }
    }
}
