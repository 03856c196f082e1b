# Project-wide compile flags: warnings always on, sanitizers on request.
add_compile_options(-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
                    -Wcast-align -Wunused -Woverloaded-virtual
                    -Wimplicit-fallthrough -Wformat=2)
if(SMTPWALL_WERROR)
  add_compile_options(-Werror)
endif()
add_compile_definitions(_FORTIFY_SOURCE=2)
add_compile_options(-fstack-protector-strong)
if(SMTPWALL_SANITIZE)
  add_compile_options(-fsanitize=${SMTPWALL_SANITIZE} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${SMTPWALL_SANITIZE})
endif()
