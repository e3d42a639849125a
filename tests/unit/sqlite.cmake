# The sqlite storage plugin's SQLite layer, tested without a host (owner:
# sqlite). The plugin as a whole is held to the contract suite
# (tests/contract, contract.sqlite).
add_executable(test_sqlite_db ${CMAKE_CURRENT_LIST_DIR}/test_sqlite_db.c
               ${PROJECT_SOURCE_DIR}/plugins/sqlite/sqlite_db.c)
target_include_directories(test_sqlite_db PRIVATE ${PROJECT_SOURCE_DIR}/plugins/sqlite)
target_link_libraries(test_sqlite_db PRIVATE parley_plugin_common ParleySDK::sdk PkgConfig::SQLITE3 PkgConfig::CMOCKA)
add_test(NAME unit.sqlite_db COMMAND test_sqlite_db)
set_tests_properties(unit.sqlite_db PROPERTIES TIMEOUT 60
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
