# The Engine.IO server (plugins/socketio/engine*.c, owner: engineio) on a
# fake host with a clock the test moves: tests/unit/test_engine.c. Uses the
# parley_sio_engine target of plugins/socketio/CMakeLists.txt.
if(TARGET parley_sio_engine)
  add_executable(test_engine ${CMAKE_CURRENT_LIST_DIR}/test_engine.c)
  target_link_libraries(test_engine PRIVATE parley_sio_engine PkgConfig::CMOCKA)
  add_test(NAME unit.engine COMMAND test_engine)
  set_tests_properties(unit.engine PROPERTIES TIMEOUT 60
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
endif()
