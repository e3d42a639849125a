# The storage contract suite against the mongo plugin, on the run's MongoDB
# (the mongo.server.start fixture of tests/integration/mongo.cmake, or
# MONGODB_URI), in a database emptied first. Its data outlives an instance:
# --persistent.
if(TARGET mongo)
  add_test(NAME contract.mongo
    COMMAND ${PARLEY_PYTHON} ${CMAKE_SOURCE_DIR}/tests/mongo/mongotest.py exec
            --drop parley_contract $<TARGET_FILE:parley-storage-contract> --plugin $<TARGET_FILE:mongo> --persistent
            --set uri={URI} --set database=parley_contract)
  set_tests_properties(contract.mongo PROPERTIES
    FIXTURES_REQUIRED mongo_server
    ENVIRONMENT "PARLEY_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1;ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/mongo/lsan.supp;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1"
    TIMEOUT 240)
endif()
