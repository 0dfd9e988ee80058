# ONNX Runtime goldens for tests/engine/onnx_parity_test.cpp (included from tests/CMakeLists.txt).
#
# The `onnx_goldens` test (a fixture setup) runs tests/reference/onnx/make_onnx_goldens.mjs
# (onnxruntime-web 1.30.0, wasm, 1 thread) into ${CMAKE_BINARY_DIR}/onnx_goldens before the
# ONNX parity tests run. It is skipped (ctest "Not Run", return code 77) when node or
# tests/reference/onnx/node_modules is missing — then the parity tests skip themselves too.
# Install the Node side once with
#   (cd tests/reference/onnx && npm ci)

set(FK_ONNX_GOLDENS_DIR ${CMAKE_BINARY_DIR}/onnx_goldens)
find_program(FK_NODE_EXECUTABLE node)
if(FK_NODE_EXECUTABLE)
  set(_fk_onnx_node ${FK_NODE_EXECUTABLE})
else()
  set(_fk_onnx_node node)
endif()

add_test(NAME onnx_goldens
  COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/reference/onnx/ctest_onnx_goldens.sh ${_fk_onnx_node}
          ${PROJECT_SOURCE_DIR}/models/faceplugin ${FK_ONNX_GOLDENS_DIR})
set_tests_properties(onnx_goldens PROPERTIES
  FIXTURES_SETUP onnx_goldens
  SKIP_RETURN_CODE 77
  TIMEOUT 900
  LABELS "onnx;goldens")

# Discovered gtest names are only known at ctest time: a script appended after the
# discovery include files adds FIXTURES_REQUIRED to the OnnxParity tests.
if(TARGET fk_engine_tests)
  set(_fk_onnx_props ${CMAKE_CURRENT_BINARY_DIR}/onnx_parity_props.cmake)
  file(WRITE ${_fk_onnx_props} [=[
foreach(_t IN LISTS fk_engine_tests_TESTS)
  if(_t MATCHES "OnnxParity")
    set_tests_properties("${_t}" PROPERTIES FIXTURES_REQUIRED onnx_goldens)
  endif()
endforeach()
]=])
  set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY TEST_INCLUDE_FILES ${_fk_onnx_props})
endif()
