// The messages of the branch shown. Follows the end while text streams in, until the user
// scrolls up; scrolling back to the end follows again.
import QtQuick
import QtQuick.Controls
import Hearth

ListView {
    id: view
    required property AppController app
    property bool followTail: true

    objectName: "chatView"
    model: app.chat.messages
    clip: true
    spacing: 10
    topMargin: 12
    bottomMargin: 12
    boundsBehavior: Flickable.StopAtBounds
    Accessible.name: qsTr("Messages")
    ScrollBar.vertical: ScrollBar { Accessible.name: qsTr("Scroll messages") }

    function followIfWanted() {
        if (followTail)
            Qt.callLater(view.positionViewAtEnd)
    }
    onMovementStarted: followTail = false
    onMovementEnded: followTail = atYEnd
    onContentHeightChanged: followIfWanted()
    onCountChanged: followIfWanted()
    Connections {
        target: view.app.chat
        function onConversationChanged() { view.followTail = true }
    }

    delegate: MessageDelegate {
        app: view.app
        width: ListView.view.width
    }

    Label {
        anchors.centerIn: parent
        visible: view.count === 0
        text: view.app.models.ready ? qsTr("Ask anything. Enter sends, Shift+Enter adds a line.")
                                    : qsTr("Loading %1…").arg(view.app.models.name)
        opacity: 0.6
    }
}
