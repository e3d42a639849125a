# The sqlite helper's durability test: confirmed messages survive kill -9.
# Skipped (exit 77) while the rest or sqlite plugin is not built.
add_test(NAME integration.sqlite_kill9
         COMMAND ${PARLEY_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_sqlite_kill9.py)
set_tests_properties(integration.sqlite_kill9 PROPERTIES
  ENVIRONMENT "PARLEY_BUILD_DIR=${CMAKE_BINARY_DIR};PARLEY_SOURCE_DIR=${CMAKE_SOURCE_DIR};PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1;ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1"
  SKIP_RETURN_CODE 77
  TIMEOUT 300)

# The health probe end to end: /health follows the database file.
add_test(NAME integration.sqlite_health
         COMMAND ${PARLEY_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_sqlite_health.py)
set_tests_properties(integration.sqlite_health PROPERTIES
  ENVIRONMENT "PARLEY_BUILD_DIR=${CMAKE_BINARY_DIR};PARLEY_SOURCE_DIR=${CMAKE_SOURCE_DIR};PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1;ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1"
  SKIP_RETURN_CODE 77
  TIMEOUT 120)
