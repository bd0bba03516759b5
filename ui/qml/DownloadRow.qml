// One model download (a DownloadJob): name, progress bar, bytes / rate / time left, pause,
// resume, cancel, the error (with resume when the part was kept), and "Load" once it is done.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Hearth

ColumnLayout {
    id: row
    required property DownloadJob job
    signal loadRequested(string path)
    signal removeRequested()

    readonly property bool downloading: job.state === "downloading"
    readonly property bool paused: job.state === "paused"
    readonly property bool failed: job.state === "failed"
    readonly property bool done: job.state === "done"
    spacing: 2

    RowLayout {
        Layout.fillWidth: true
        Label {
            text: row.job.fileName
            font.bold: true
            elide: Text.ElideMiddle
            Layout.fillWidth: true
        }
        Label {
            text: row.done ? (row.job.verified ? qsTr("done, SHA-256 verified") : qsTr("done, not verified"))
                : row.failed ? qsTr("failed") : row.paused ? qsTr("paused")
                : row.job.state === "cancelled" ? qsTr("cancelled") : qsTr("downloading")
        }
    }
    ProgressBar {
        objectName: "downloadProgress"
        visible: row.downloading || row.paused
        from: 0
        to: 1
        value: row.job.progress >= 0 ? row.job.progress : 0
        indeterminate: row.downloading && row.job.progress < 0
        Layout.fillWidth: true
        Accessible.name: qsTr("Download progress of %1").arg(row.job.fileName)
    }
    Label {
        text: row.job.progressText
        visible: !row.done
    }
    Label {
        text: row.job.note
        visible: text.length > 0
        wrapMode: Text.Wrap
        Layout.fillWidth: true
    }
    Label {
        objectName: "downloadError"
        text: row.job.error
        visible: text.length > 0
        color: "#b3261e"
        wrapMode: Text.Wrap
        Layout.fillWidth: true
        Accessible.role: Accessible.AlertMessage
        Accessible.name: text
    }
    Label {
        text: qsTr("SHA-256: %1").arg(row.job.sha256)
        visible: row.done && !row.job.verified
        wrapMode: Text.WrapAnywhere
        font.family: "monospace"
        Layout.fillWidth: true
    }
    RowLayout {
        Button {
            text: qsTr("Pause")
            visible: row.downloading
            Accessible.name: qsTr("Pause downloading %1").arg(row.job.fileName)
            onClicked: row.job.pause()
        }
        Button {
            text: qsTr("Resume")
            visible: row.paused || (row.failed && row.job.resumable)
            Accessible.name: qsTr("Resume downloading %1").arg(row.job.fileName)
            onClicked: row.job.resume()
        }
        Button {
            text: qsTr("Cancel")
            visible: row.downloading || row.paused || (row.failed && row.job.resumable)
            Accessible.name: qsTr("Cancel downloading %1").arg(row.job.fileName)
            onClicked: row.job.cancel()
        }
        Button {
            text: qsTr("Load")
            visible: row.done
            Accessible.name: qsTr("Load %1").arg(row.job.fileName)
            onClicked: row.loadRequested(row.job.path)
        }
        Button {
            text: qsTr("Remove from list")
            visible: !row.downloading && !row.paused
            Accessible.name: qsTr("Remove %1 from the download list").arg(row.job.fileName)
            onClicked: row.removeRequested()
        }
    }
}
