# Custom events and namespaces (host/events.c; owner: socketio helper).
if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/test_events.c)
  add_executable(test_events ${CMAKE_CURRENT_LIST_DIR}/test_events.c)
  target_link_libraries(test_events PRIVATE parley_core PkgConfig::CMOCKA)
  add_test(NAME unit.events COMMAND test_events)
  set_tests_properties(unit.events PROPERTIES TIMEOUT 60
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
endif()
