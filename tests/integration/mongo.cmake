# The mongo helper's tests (plugins/mongo, docs/storage.md): a MongoDB
# wire-protocol server for the run (tests/mongo: CongoDB on a free loopback
# port, or MONGODB_URI when set), the plugin through the real server, and the
# database going away under it. Only when the mongo plugin is built.
if(TARGET mongo)
  pkg_check_modules(MONGOC_TESTS REQUIRED IMPORTED_TARGET libmongoc-1.0)
  # Reaches the database without the plugin (tests/mongo/mongo_cmd.c).
  add_executable(parley-mongo-cmd ${CMAKE_SOURCE_DIR}/tests/mongo/mongo_cmd.c)
  target_link_libraries(parley-mongo-cmd PRIVATE PkgConfig::MONGOC_TESTS)
  set_target_properties(parley-mongo-cmd PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)

  set(PARLEY_MONGO_TEST_ENV
    "PARLEY_BUILD_DIR=${CMAKE_BINARY_DIR}"
    "PARLEY_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    "PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR}:${CMAKE_SOURCE_DIR}/tests/mongo"
    "PYTHONDONTWRITEBYTECODE=1"
    "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1"
    "LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/mongo/lsan.supp"
    "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")

  # One server shared by the tests that only read and write (installed from
  # the committed lockfile on first use); the outage tests start their own.
  add_test(NAME mongo.server.start
    COMMAND ${PARLEY_PYTHON} ${CMAKE_SOURCE_DIR}/tests/mongo/mongotest.py start)
  set_tests_properties(mongo.server.start PROPERTIES
    FIXTURES_SETUP mongo_server ENVIRONMENT "${PARLEY_MONGO_TEST_ENV}" TIMEOUT 180)
  add_test(NAME mongo.server.stop
    COMMAND ${PARLEY_PYTHON} ${CMAKE_SOURCE_DIR}/tests/mongo/mongotest.py stop)
  set_tests_properties(mongo.server.stop PROPERTIES
    FIXTURES_CLEANUP mongo_server ENVIRONMENT "${PARLEY_MONGO_TEST_ENV}" TIMEOUT 30)

  # Schema, the Node backend's documents, rooms as values: on the shared server.
  add_test(NAME integration.mongo_node
    COMMAND ${PARLEY_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_mongo_node.py)
  set_tests_properties(integration.mongo_node PROPERTIES
    FIXTURES_REQUIRED mongo_server ENVIRONMENT "${PARLEY_MONGO_TEST_ENV}"
    SKIP_RETURN_CODE 77 TIMEOUT 180)

  # The driver side (plugins/mongo/mongo_db.c) directly: partial bulk
  # failures, filters, an unreachable server, error mapping (cmocka).
  add_executable(test_mongo_db ${CMAKE_SOURCE_DIR}/tests/mongo/test_mongo_db.c
                               ${CMAKE_SOURCE_DIR}/plugins/mongo/mongo_db.c)
  target_include_directories(test_mongo_db PRIVATE ${CMAKE_SOURCE_DIR}/plugins/mongo)
  target_link_libraries(test_mongo_db PRIVATE parley_plugin_common ParleySDK::sdk PkgConfig::MONGOC_TESTS
                                              PkgConfig::CMOCKA)
  add_test(NAME integration.mongo_db COMMAND test_mongo_db)
  set_tests_properties(integration.mongo_db PROPERTIES
    FIXTURES_REQUIRED mongo_server ENVIRONMENT "${PARLEY_MONGO_TEST_ENV}" TIMEOUT 120)

  # Config refusals, --check-config without a database, a database that
  # appears after the server started.
  add_test(NAME integration.mongo_config
    COMMAND ${PARLEY_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_mongo_config.py)
  set_tests_properties(integration.mongo_config PROPERTIES
    ENVIRONMENT "${PARLEY_MONGO_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 180)
endif()

# The database stopped (SIGSTOP), killed and cut off mid-traffic: each case
# starts a CongoDB of its own (or puts a proxy in front of MONGODB_URI).
if(TARGET mongo)   # rest_chatws (rest.cmake) is built later; the test skips without it
  add_test(NAME integration.mongo_outage
    COMMAND ${PARLEY_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_mongo_outage.py)
  set_tests_properties(integration.mongo_outage PROPERTIES
    ENVIRONMENT "${PARLEY_MONGO_TEST_ENV}" SKIP_RETURN_CODE 77 TIMEOUT 240)
endif()
