// ews-emulator: see lib/include/ews_emulator/server.hpp and README.md.
#include <exception>
#include <iostream>

#include "ews_emulator/server.hpp"

int main(int argc, char** argv) {
  ews_emulator::Options options;
  if (auto error = ews_emulator::parse_args(argc, argv, options)) {
    std::cerr << "ews-emulator: " << *error << "\n"
              << "usage: ews-emulator --listen 127.0.0.1:PORT --db FILE [--schemas DIR] "
                 "[--minute-ms N] [--ntlm-schemes Negotiate,NTLM]\n";
    return 2;
  }
  try {
    return ews_emulator::run(options);
  } catch (const std::exception& e) {
    std::cerr << "ews-emulator: " << e.what() << "\n";
    return 1;
  }
}
