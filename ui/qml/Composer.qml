// The message box: Enter sends, Shift+Enter adds a line, the button sends or stops.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Hearth

Pane {
    id: root
    required property AppController app
    padding: 8

    function focusInput() { input.forceActiveFocus() }
    function submit() {
        if (root.app.chat.send(input.text))
            input.clear()
    }

    RowLayout {
        anchors.fill: parent
        ScrollView {
            Layout.fillWidth: true
            Layout.preferredHeight: Math.min(Math.max(input.implicitHeight, 40), 160)
            ScrollBar.vertical: ScrollBar { Accessible.name: qsTr("Scroll message") }
            ScrollBar.horizontal: ScrollBar { policy: ScrollBar.AlwaysOff; Accessible.name: qsTr("Scroll message sideways") }
            TextArea {
                id: input
                objectName: "composerInput"
                placeholderText: qsTr("Message (Enter sends, Shift+Enter new line, Esc stops)")
                wrapMode: TextEdit.Wrap
                Accessible.name: qsTr("Message")
                Keys.onReturnPressed: (event) => root.onEnter(event)
                Keys.onEnterPressed: (event) => root.onEnter(event)
            }
        }
        Button {
            objectName: "sendButton"
            text: root.app.chat.busy ? qsTr("Stop") : qsTr("Send")
            Accessible.name: root.app.chat.busy ? qsTr("Stop generating") : qsTr("Send message")
            onClicked: root.app.chat.busy ? root.app.chat.stop() : root.submit()
        }
    }

    // A message that could not be saved comes back for another try.
    Connections {
        target: root.app.chat
        function onSendFailed(text) {
            if (input.text.length === 0)
                input.text = text
        }
    }

    function onEnter(event) {
        if (event.modifiers & Qt.ShiftModifier) {
            event.accepted = false  // the TextArea inserts the new line
            return
        }
        event.accepted = true
        submit()
    }
}
