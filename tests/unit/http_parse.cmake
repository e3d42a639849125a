# The HTTP/1.1 head parser and chunked decoder (owner: httpparse). Built
# from its own source so it does not wait on the rest of the host core.
add_executable(test_http_parse ${CMAKE_CURRENT_LIST_DIR}/test_http_parse.c
  ${PROJECT_SOURCE_DIR}/host/http_parse.c)
target_include_directories(test_http_parse PRIVATE ${PROJECT_SOURCE_DIR}/host)
target_link_libraries(test_http_parse PRIVATE PkgConfig::CMOCKA)
add_test(NAME unit.http_parse COMMAND test_http_parse)
set_tests_properties(unit.http_parse PROPERTIES TIMEOUT 60
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
