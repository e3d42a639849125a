# The Socket.IO layer of plugins/socketio over a fake Engine.IO server and a
# fake chat (owner: socketio helper): tests/unit/test_sio_conn.c.
if(TARGET socketio AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/test_sio_conn.c)
  set(_sio_dir ${CMAKE_SOURCE_DIR}/plugins/socketio)
  add_executable(test_sio_conn ${CMAKE_CURRENT_LIST_DIR}/test_sio_conn.c
                 ${_sio_dir}/socketio.c ${_sio_dir}/sio_conn.c ${_sio_dir}/sio_chat.c
                 ${_sio_dir}/sio_events.c)
  target_include_directories(test_sio_conn PRIVATE ${_sio_dir})
  target_link_libraries(test_sio_conn PRIVATE parley_sio_codec parley_core PkgConfig::CJSON
                        PkgConfig::CMOCKA)
  add_test(NAME unit.sio_conn COMMAND test_sio_conn)
  set_tests_properties(unit.sio_conn PROPERTIES TIMEOUT 60
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
endif()
