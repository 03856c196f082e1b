#define BOOST_TEST_MODULE smtpwall
#include <boost/test/unit_test.hpp>
