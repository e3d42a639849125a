# The WebSocket codec's unit tests (owner: wscodec): handshake accept, frame
# heads (bad-inputs section 5), unmasking, close payloads, server heads.
# The codec and the UTF-8 check it uses are compiled in directly rather than
# through parley_core: they depend on nothing else in the host, and the test
# then builds while the listener is being rewritten.
add_executable(test_ws_codec ${CMAKE_CURRENT_LIST_DIR}/test_ws_codec.c
  ${PROJECT_SOURCE_DIR}/host/ws_codec.c ${PROJECT_SOURCE_DIR}/host/validate.c)
target_include_directories(test_ws_codec PRIVATE ${PROJECT_SOURCE_DIR}/host)
target_link_libraries(test_ws_codec PRIVATE ParleySDK::sdk PkgConfig::CMOCKA)
add_test(NAME unit.ws_codec COMMAND test_ws_codec)
set_tests_properties(unit.ws_codec PROPERTIES TIMEOUT 60
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
