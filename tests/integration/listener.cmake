# The listener's integration tests: the real server with the echo fixture
# transport (tests/fixtures/echo.cmake), under the sanitizers.
add_test(NAME integration.listener
         COMMAND ${PARLEY_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_listener.py)
set_tests_properties(integration.listener PROPERTIES
  ENVIRONMENT "PARLEY_BUILD_DIR=${CMAKE_BINARY_DIR};PARLEY_SOURCE_DIR=${CMAKE_SOURCE_DIR};PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1;ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1"
  TIMEOUT 300)
