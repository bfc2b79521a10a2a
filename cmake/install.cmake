# install.cmake: what `cmake --install` puts where (GNUInstallDirs), and the Debian package
# (`cpack -G DEB` in the build folder). Nothing at run time reads these paths: the Lua modules are
# inside the binary, and the shipped rule files are examples to copy and edit.
#   bin/defector, bin/defector-gen          the engine; the test data generator
#   share/man/man1/defector.1               docs/defector.1
#   share/defector/rules/                   rules/ (retention.lua, its tests, api/ annotations)
#   share/defector/sample-data/             the sample data set, for a first run
#   share/doc/defector/                     README.md, docs/ beside it (their links hold)
install(TARGETS defector defector-gen RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES docs/defector.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(DIRECTORY rules/ DESTINATION ${CMAKE_INSTALL_DATADIR}/defector/rules)
install(DIRECTORY sample-data/ DESTINATION ${CMAKE_INSTALL_DATADIR}/defector/sample-data)
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs FILES_MATCHING PATTERN "*.md")

set(DEFECTOR_MAINTAINER "defector maintainers <defector@localhost>" CACHE STRING
    "Maintainer field of the Debian package")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME defector)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "batch retention-risk scoring of CRM exports with Lua rules")
set(CPACK_PACKAGE_DESCRIPTION "defector streams gzip CSV exports of a customer base, scores every
customer with rules written in Lua and writes a ranked risk list and metric tables as CSV.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${DEFECTOR_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
# Depends: computed from the libraries the binaries link (dpkg-shlibdeps, from dpkg-dev, which
# scripts/setup installs); without it, listed by hand (Debian 12 names).
find_program(DPKG_SHLIBDEPS dpkg-shlibdeps)
if(DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libc6, libluajit2-5.1-2 | libluajit-5.1-2, libcsv3, zlib1g")
  if(ISAL_FOUND)
    string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS ", libisal2")
  endif()
endif()
include(CPack)
