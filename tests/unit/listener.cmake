# The listener's unit tests (owner: listener): text helpers and frames.
add_executable(test_listener_text ${CMAKE_CURRENT_LIST_DIR}/test_listener_text.c)
target_link_libraries(test_listener_text PRIVATE parley_core PkgConfig::CMOCKA)
add_test(NAME unit.listener_text COMMAND test_listener_text)
set_tests_properties(unit.listener_text PROPERTIES TIMEOUT 60
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
