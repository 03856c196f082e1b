// <ldns/ldns.h> for C++. Without __bool_true_false_are_defined, ldns/common.h
// #defines bool, true and false, which breaks any standard header included after it
// (std::optional's <=> among them); <stdbool.h> defines the guard and nothing else
// in C++.
#pragma once

#include <stdbool.h>  // NOLINT(modernize-deprecated-headers): needed for its guard macro

#include <ldns/ldns.h>
