#include "graph_test.hpp"
