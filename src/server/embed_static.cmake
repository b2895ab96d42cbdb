# Embeds the web page's files (src/server/static/*) into strata_server: at build time,
# embed_static_generate.cmake writes them as byte arrays into a generated .cpp.
set(STRATA_STATIC_DIR ${CMAKE_SOURCE_DIR}/src/server/static)
file(GLOB STRATA_STATIC_FILES CONFIGURE_DEPENDS ${STRATA_STATIC_DIR}/*)
set(STRATA_STATIC_CPP ${CMAKE_BINARY_DIR}/generated/static_assets_data.cpp)
add_custom_command(
  OUTPUT ${STRATA_STATIC_CPP}
  COMMAND ${CMAKE_COMMAND} -DSTATIC_DIR=${STRATA_STATIC_DIR} -DOUTPUT=${STRATA_STATIC_CPP}
          -P ${CMAKE_SOURCE_DIR}/src/server/embed_static_generate.cmake
  DEPENDS ${STRATA_STATIC_FILES} ${CMAKE_SOURCE_DIR}/src/server/embed_static_generate.cmake
  COMMENT "Embedding the web chat page")
target_sources(strata_server PRIVATE ${STRATA_STATIC_CPP})
