# Windows packages (included by packaging/CMakeLists.txt on WIN32): an NSIS installer
# hearth-<version>-win64.exe and a ZIP of the same tree. The layout below the install directory is
# the Linux prefix's: bin\hearth-cli.exe (and bin\hearth.exe with the GUI), share\hearth\models\.
# MinGW builds link the C/C++ runtime statically (cmake/toolchains/mingw-w64-x86_64.cmake), so bin\
# needs no MinGW DLLs; an MSVC build adds its DLLs to bin\ itself (windows/README.md, step 5).
# Tested by scripts/windows-test.sh: silent install under wine, hearth-cli generate, silent uninstall.
find_program(HEARTH_MAKENSIS makensis)
set(CPACK_GENERATOR ZIP)
if(HEARTH_MAKENSIS)
  list(PREPEND CPACK_GENERATOR NSIS)
else()
  message(STATUS "Hearth packaging: makensis not found (Debian: nsis): no NSIS installer, only the ZIP")
endif()

set(CPACK_SYSTEM_NAME win64)
set(CPACK_PACKAGE_FILE_NAME hearth-${PROJECT_VERSION}-win64)

# A 64-bit installer (amd64-unicode stubs, part of Debian's nsis): the program is 64-bit anyway,
# and wine64 without wine32 (the cross-build's test) runs only 64-bit programs. CPACK_NSIS_DEFINES
# lands near the top of CPack's NSIS template, before any section: the place "Target" must be.
set(CPACK_NSIS_DEFINES "Target amd64-unicode")

set(CPACK_NSIS_PACKAGE_NAME "Hearth")
set(CPACK_NSIS_DISPLAY_NAME "Hearth ${PROJECT_VERSION}")  # Apps & features; the version also goes to DisplayVersion
set(CPACK_NSIS_INSTALL_ROOT "$PROGRAMFILES64")
set(CPACK_PACKAGE_INSTALL_REGISTRY_KEY "Hearth")  # one entry for every version: an upgrade replaces it
set(CPACK_NSIS_ENABLE_UNINSTALL_BEFORE_INSTALL ON)
# "Add Hearth to the PATH" is offered (unchecked) so hearth-cli works from any prompt; the
# uninstaller removes the entry again. A silent install (/S) does not touch PATH.
set(CPACK_NSIS_MODIFY_PATH ON)
set(CPACK_NSIS_UNINSTALL_NAME Uninstall)
set(CPACK_NSIS_CONTACT "${HEARTH_PACKAGE_CONTACT}")
set(CPACK_NSIS_MANIFEST_DPI_AWARE ON)
if(EXISTS ${hearth_license_file})
  set(CPACK_RESOURCE_FILE_LICENSE ${hearth_license_file})  # the installer's license page
endif()

# Start menu entry for the GUI only: hearth-cli is a console program run from a prompt.
if(TARGET hearth)
  set(CPACK_PACKAGE_EXECUTABLES "hearth;Hearth")
endif()

# The installer's icon, when the build renders an .ico (windows/README.md, step 6).
set(HEARTH_NSIS_ICON "" CACHE FILEPATH "An .ico for the Windows installer and uninstaller (optional)")
if(HEARTH_NSIS_ICON)
  set(CPACK_NSIS_MUI_ICON ${HEARTH_NSIS_ICON})
  set(CPACK_NSIS_MUI_UNIICON ${HEARTH_NSIS_ICON})
  set(CPACK_NSIS_INSTALLED_ICON_NAME bin\\\\hearth-cli.exe)
endif()

# Version resources: Explorer shows project()'s version in the executables' properties.
foreach(exe hearth-cli hearth)
  if(TARGET ${exe})
    set(HEARTH_RC_NAME ${exe})
    if(exe STREQUAL "hearth")
      set(HEARTH_RC_DESCRIPTION "Hearth: local LLM chat")
    else()
      set(HEARTH_RC_DESCRIPTION "Hearth command line tool")
    endif()
    configure_file(${CMAKE_CURRENT_SOURCE_DIR}/windows/version.rc.in ${CMAKE_CURRENT_BINARY_DIR}/${exe}-version.rc @ONLY)
    target_sources(${exe} PRIVATE ${CMAKE_CURRENT_BINARY_DIR}/${exe}-version.rc)
  endif()
endforeach()
