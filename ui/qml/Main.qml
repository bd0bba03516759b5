// The main window: sidebar (conversations, search), chat, composer, status bar.
// `app` (AppController) is given by main() as an initial property; everything else hangs off it.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Hearth

ApplicationWindow {
    id: window
    required property AppController app

    width: 1100
    height: 720
    visible: true
    title: app.chat.title.length > 0 ? qsTr("%1 — Hearth").arg(app.chat.title) : qsTr("Hearth")
    font.pointSize: app.settings.fontSize

    SystemPalette { id: systemPalette }
    readonly property bool dark: app.settings.theme === "dark"
        || (app.settings.theme === "system" && systemPalette.window.hslLightness < 0.5)
    readonly property color textColor: dark ? "#e8e6e3" : "#1d1d1f"
    readonly property color subtleColor: dark ? "#9a9996" : "#6b6b70"
    readonly property color backgroundColor: dark ? "#1e1f22" : "#ffffff"
    readonly property color panelColor: dark ? "#2a2b2f" : "#f3f3f5"
    readonly property color userBubbleColor: dark ? "#2f3e55" : "#e6effc"
    readonly property color errorColor: dark ? "#ff8a80" : "#b3261e"

    color: backgroundColor
    palette.window: panelColor
    palette.windowText: textColor
    palette.base: backgroundColor
    palette.text: textColor
    palette.button: panelColor
    palette.buttonText: textColor
    palette.placeholderText: subtleColor

    // One error line with its dismiss button; hidden while its text is empty.
    component ErrorBanner: Rectangle {
        id: banner
        property string text
        property bool dismissable: true
        signal dismissed()
        visible: text.length > 0
        Layout.fillWidth: true
        implicitHeight: bannerRow.implicitHeight + 12
        color: window.dark ? "#4a2020" : "#fde7e9"
        Accessible.role: Accessible.AlertMessage
        Accessible.name: text
        RowLayout {
            id: bannerRow
            anchors.fill: parent
            anchors.margins: 6
            Label {
                text: banner.text
                color: window.errorColor
                wrapMode: Text.Wrap
                Layout.fillWidth: true
            }
            ToolButton {
                text: "\u2715"
                visible: banner.dismissable
                Accessible.name: qsTr("Dismiss error")
                onClicked: banner.dismissed()
            }
        }
    }

    Shortcut {
        sequence: "Ctrl+N"
        onActivated: {
            window.app.chat.newConversation()
            composer.focusInput()
        }
    }
    Shortcut {
        sequence: "Ctrl+F"
        onActivated: sidebar.focusSearch()
    }
    Shortcut {
        sequence: "Ctrl+,"
        onActivated: settingsDialog.open()
    }
    Shortcut {
        sequence: "Esc"
        enabled: window.app.chat.busy
        onActivated: window.app.chat.stop()
    }

    RowLayout {
        anchors.fill: parent
        spacing: 0

        Sidebar {
            id: sidebar
            app: window.app
            Layout.preferredWidth: 260
            Layout.fillHeight: true
            onSettingsRequested: settingsDialog.open()
            onAboutRequested: aboutDialog.open()
            onChatOpened: composer.focusInput()
        }

        ColumnLayout {
            Layout.fillWidth: true
            Layout.fillHeight: true
            spacing: 0

            // Errors are shown, never swallowed: the model's, the chat's, the database's.
            ErrorBanner {
                objectName: "errorBanner_model"
                text: window.app.models.state === "failed" ? window.app.models.error : ""
                dismissable: false
            }
            ErrorBanner {
                objectName: "errorBanner_chat"
                text: window.app.chat.error
                onDismissed: window.app.chat.clearError()
            }
            ErrorBanner {
                objectName: "errorBanner_storage"
                text: window.app.storageError
                onDismissed: window.app.clearStorageError()
            }

            ChatView {
                id: chatView
                app: window.app
                Layout.fillWidth: true
                Layout.fillHeight: true
            }

            Composer {
                id: composer
                app: window.app
                Layout.fillWidth: true
            }
        }
    }

    // The Models dialog's entry point: the model in use, a click away from opening, loading and
    // downloading models.
    header: ToolBar {
        RowLayout {
            anchors.fill: parent
            ToolButton {
                objectName: "modelsButton"
                text: window.app.models.name.length > 0 ? qsTr("Model: %1").arg(window.app.models.name) : qsTr("Models…")
                Accessible.name: qsTr("Models: open, load and download models")
                onClicked: modelsDialog.open()
            }
            Item { Layout.fillWidth: true }
        }
    }

    footer: StatusBar {
        app: window.app
    }

    SettingsDialog {
        id: settingsDialog
        app: window.app
        anchors.centerIn: Overlay.overlay
    }

    AboutDialog {
        id: aboutDialog
        app: window.app
        anchors.centerIn: Overlay.overlay
    }

    ModelsDialog {
        id: modelsDialog
        app: window.app
        anchors.centerIn: Overlay.overlay
    }

    Component.onCompleted: composer.focusInput()
}
