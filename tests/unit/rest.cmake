# The REST plugin driven through a fake host table (plugins/rest/tests).
# It dlopens the built rest.so, like the host does.
add_executable(test_rest_fakehost ${CMAKE_SOURCE_DIR}/plugins/rest/tests/test_rest_fakehost.c)
target_link_libraries(test_rest_fakehost PRIVATE ParleySDK::sdk ${CMAKE_DL_LIBS})
add_dependencies(test_rest_fakehost rest)
add_test(NAME unit.rest.fakehost COMMAND test_rest_fakehost $<TARGET_FILE:rest>)
set_tests_properties(unit.rest.fakehost PROPERTIES
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1"
  TIMEOUT 60)
