// crm-emulator: see lib/include/crm_emulator/server.hpp and README.md.
#include <exception>
#include <iostream>

#include "crm_emulator/server.hpp"

int main(int argc, char** argv) {
  crm_emulator::Options options;
  if (auto error = crm_emulator::parse_args(argc, argv, options)) {
    std::cerr << "crm-emulator: " << *error << "\n"
              << "usage: crm-emulator --listen 127.0.0.1:PORT --db FILE "
                 "[--tls-cert F --tls-key F] [--seed-demo] [--throttle-limit N] "
                 "[--authority URL [--authority-ca F] [--token-leeway-s N]] [--org-url URL]\n";
    return 2;
  }
  try {
    return crm_emulator::run(options);
  } catch (const std::exception& e) {
    std::cerr << "crm-emulator: " << e.what() << "\n";
    return 1;
  }
}
