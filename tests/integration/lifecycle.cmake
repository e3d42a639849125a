# The lead's life-cycle tests: command line, --check-config, signals.
add_test(NAME integration.lifecycle
         COMMAND ${PARLEY_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_lifecycle.py)
set_tests_properties(integration.lifecycle PROPERTIES
  ENVIRONMENT "PARLEY_BUILD_DIR=${CMAKE_BINARY_DIR};PARLEY_SOURCE_DIR=${CMAKE_SOURCE_DIR};PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1"
  TIMEOUT 300)
