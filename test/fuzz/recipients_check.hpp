// The property both the recipients fuzzer and its corpus replay check (core/recipients.hpp):
//   canonical_recipient: lower case, a piece of its input; angle brackets, blanks around
//     them and a source route ("@a,@b:") change nothing; letter case never matters;
//   AddressPatterns: "local@domain", "local@" and "@domain" made from a recipient (in
//     any case) match it, and match another recipient exactly when its last '@' splits
//     it into that local part or that domain (no subdomains);
//   classify_mta_rejection: permanent / temporary only from a '5' / '4' that starts a
//     status, and the reply forms Postfix and Sendmail send are always recognised.
// Aborts (with the fields on stderr) otherwise.
//
// Input bytes: RECIPIENT NUL RCPT_HOST NUL RCPT_ADDR; a missing NUL makes the missing
// fields the whole input, so a plain text seed exercises every function.
#pragma once

#include <cstddef>
#include <cstdint>

namespace smtpwall::fuzz {

void check_recipients(const std::uint8_t* data, std::size_t size);

}  // namespace smtpwall::fuzz
