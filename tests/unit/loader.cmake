# The plugin loader against the fixture plugins of tests/fixtures/loader.cmake.
# One ctest per group of cases: unit.loader.{load,refuse,files,config,lifecycle}.
add_executable(test_loader ${CMAKE_CURRENT_LIST_DIR}/test_loader.c)
target_link_libraries(test_loader PRIVATE parley_core PkgConfig::CMOCKA)
target_compile_definitions(test_loader PRIVATE
  PARLEY_TEST_PLUGIN_DIR="${CMAKE_BINARY_DIR}/tests/plugins")
add_dependencies(test_loader loader_fixtures)

foreach(_group load refuse files config lifecycle)
  add_test(NAME unit.loader.${_group} COMMAND test_loader ${_group})
  set_tests_properties(unit.loader.${_group} PROPERTIES
    TIMEOUT 60
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
endforeach()
