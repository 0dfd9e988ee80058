# face-api goldens for tests/engine/faceapi_test.cpp (included from tests/CMakeLists.txt).
#
# The `faceapi_goldens` test (a fixture setup) runs tests/reference/faceapi/make_faceapi_goldens.mjs
# (@vladmandic/face-api 1.7.15 on tfjs-backend-wasm 4.22.0) into ${CMAKE_BINARY_DIR}/faceapi_goldens
# before the FaceApiParity tests run. It is skipped (ctest "Not Run", return code 77) when node
# or tests/reference/faceapi/node_modules is missing — then the parity tests skip themselves too.
# Install the Node side once with
#   (cd tests/reference/faceapi && npm ci)

set(FK_FACEAPI_GOLDENS_DIR ${CMAKE_BINARY_DIR}/faceapi_goldens)
find_program(FK_NODE_EXECUTABLE node)
if(FK_NODE_EXECUTABLE)
  set(_fk_faceapi_node ${FK_NODE_EXECUTABLE})
else()
  set(_fk_faceapi_node node)
endif()

add_test(NAME faceapi_goldens
  COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/reference/faceapi/ctest_faceapi_goldens.sh ${_fk_faceapi_node}
          ${PROJECT_SOURCE_DIR}/models/face-api ${FK_FACEAPI_GOLDENS_DIR} ${PROJECT_SOURCE_DIR}/data/samples)
set_tests_properties(faceapi_goldens PROPERTIES
  FIXTURES_SETUP faceapi_goldens
  SKIP_RETURN_CODE 77
  TIMEOUT 600
  LABELS "faceapi;goldens")

# Discovered gtest names are only known at ctest time: a script appended after the
# discovery include files adds FIXTURES_REQUIRED to the FaceApiParity tests.
if(TARGET fk_engine_tests)
  set(_fk_faceapi_props ${CMAKE_CURRENT_BINARY_DIR}/faceapi_parity_props.cmake)
  file(WRITE ${_fk_faceapi_props} [=[
foreach(_t IN LISTS fk_engine_tests_TESTS)
  if(_t MATCHES "FaceApiParity")
    set_tests_properties("${_t}" PROPERTIES FIXTURES_REQUIRED faceapi_goldens)
  endif()
endforeach()
]=])
  set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY TEST_INCLUDE_FILES ${_fk_faceapi_props})
endif()
