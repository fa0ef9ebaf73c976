// Umbrella header for the integration-test harness (//tests/support:harness).
#pragma once

#include "tests/support/child_process.h"
#include "tests/support/memcached_server.h"
#include "tests/support/text_client.h"
