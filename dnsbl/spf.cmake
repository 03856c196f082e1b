# SPF (tag spf-fail): libspf2 evaluates, smtpwall's resolver answers its DNS questions
# (spf_eval.cpp is the libspf2 glue, spf.cpp the worker pool). Debian's libspf2-dev
# ships no pkg-config file, hence find_path/find_library.
find_path(LIBSPF2_INCLUDE_DIR spf2/spf.h)
find_library(LIBSPF2_LIBRARY spf2)
if(NOT LIBSPF2_INCLUDE_DIR OR NOT LIBSPF2_LIBRARY)
  message(FATAL_ERROR "libspf2 not found: apt-get install libspf2-dev "
                      "(or run scripts/setup-debian.sh)")
endif()

add_library(smtpwall_spf STATIC ${CMAKE_CURRENT_LIST_DIR}/spf.cpp
                                ${CMAKE_CURRENT_LIST_DIR}/spf_eval.cpp)
target_include_directories(smtpwall_spf PUBLIC ${PROJECT_SOURCE_DIR})
# SYSTEM: libspf2's headers are C and not warning-clean under the project's flags.
target_include_directories(smtpwall_spf SYSTEM PRIVATE ${LIBSPF2_INCLUDE_DIR})
target_link_libraries(smtpwall_spf PUBLIC smtpwall_dns smtpwall_dnspure Threads::Threads
                                   PRIVATE ${LIBSPF2_LIBRARY})
