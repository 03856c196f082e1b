# Dynamic/residential PTR heuristics (tag `dialup`). Pure code: no I/O, no resolver,
# so it is its own library and unit tests link it without the DNS layer.
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)

add_library(smtpwall_dialup STATIC ${CMAKE_CURRENT_LIST_DIR}/dialup.cpp)
target_include_directories(smtpwall_dialup PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(smtpwall_dialup PUBLIC smtpwall_common PRIVATE PkgConfig::PCRE2)
