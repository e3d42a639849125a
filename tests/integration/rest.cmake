# The REST transport against the real server (plugins/rest, docs/rest.md).
# The storage-outage cases use the core helper's memstore fixture plugin and
# skip (saying so) while it is not built.
add_test(NAME integration.rest
         COMMAND ${PARLEY_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_rest.py)
set_tests_properties(integration.rest PROPERTIES
  ENVIRONMENT "PARLEY_BUILD_DIR=${CMAKE_BINARY_DIR};PARLEY_SOURCE_DIR=${CMAKE_SOURCE_DIR};PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1;ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1"
  TIMEOUT 300)

# A minimal chat transport (WebSocket) the REST test loads beside rest, to
# see REST posts broadcast to another transport's clients.
parley_add_plugin(rest_chatws
  SOURCES ${CMAKE_SOURCE_DIR}/plugins/rest/tests/chatws.c
  OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/plugins)
