// Copyright 2026 The unidist-cpp Authors.
//
// A parameter server, as in Ray's example: an actor holds a model's weights, and training
// tasks, one per shard of the data, push their gradients to it themselves (asynchronous
// SGD): each task holds a handle to the server, passed to it as an ordinary argument.
//
// The model is a line y = w0 + w1 * x fitted by gradient descent to noisy points around
// y = 2 + 3x. Every step of every task applies its shard's gradient to the weights it got
// back from its previous push; the server applies the pushes in the order they arrive.
//
//   ./bazelw run //examples:parameter_server

#include <cmath>
#include <cstdio>
#include <random>
#include <utility>
#include <vector>

#include "unidist/unidist.h"

namespace parameter_server {

using Weights = std::pair<double, double>;  // intercept, slope
using Points = std::vector<std::pair<double, double>>;

class Server {
 public:
  explicit Server(double learning_rate) : learning_rate_(learning_rate) {}
  Weights Get() const { return weights_; }
  // Applies one shard's gradient and returns the new weights.
  Weights Apply(Weights gradient) {
    weights_.first -= learning_rate_ * gradient.first;
    weights_.second -= learning_rate_ * gradient.second;
    return weights_;
  }

 private:
  double learning_rate_;
  Weights weights_{0.0, 0.0};
};
UNIDIST_ACTOR(Server, double);
UNIDIST_REMOTE(&Server::Get, &Server::Apply);

// The mean-squared-error gradient of the line `weights` over `shard`.
Weights Gradient(Weights weights, Points shard) {
  Weights gradient{0.0, 0.0};
  for (const auto& [x, y] : shard) {
    const double error = weights.first + weights.second * x - y;
    gradient.first += 2 * error / shard.size();
    gradient.second += 2 * error * x / shard.size();
  }
  return gradient;
}

// One shard's training: `steps` times, computes the gradient at the latest weights it has
// and pushes it to the server, which answers with the weights after applying it.
absl::StatusOr<int> Train(unidist::Actor<Server> server, Points shard, int steps) {
  absl::StatusOr<Weights> weights = unidist::Get(server.Submit(&Server::Get));
  for (int step = 0; step < steps && weights.ok(); ++step) {
    weights = unidist::Get(server.Submit(&Server::Apply, Gradient(*weights, shard)));
  }
  if (!weights.ok()) return weights.status();
  return steps;
}

}  // namespace parameter_server

UNIDIST_REMOTE(parameter_server::Gradient, parameter_server::Train);

int main() {
  using namespace parameter_server;
  if (absl::Status status = unidist::Init(); !status.ok()) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
    return 1;
  }
  // Four shards of noisy points around y = 2 + 3x, stored once.
  std::mt19937 random(7);
  std::normal_distribution<double> noise(0.0, 0.1);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::vector<unidist::ObjectRef<Points>> shards;
  for (int s = 0; s < 4; ++s) {
    Points points;
    for (int i = 0; i < 2000; ++i) {
      const double x = unit(random);
      points.emplace_back(x, 2 + 3 * x + noise(random));
    }
    shards.push_back(unidist::Put(std::move(points)));
  }

  unidist::Actor<Server> server = unidist::CreateActor<Server>(0.1);
  std::vector<unidist::ObjectRef<int>> trainers;
  for (const auto& shard : shards) trainers.push_back(unidist::Submit(Train, server, shard, 150));
  if (absl::StatusOr<std::vector<int>> done = unidist::Get(trainers); !done.ok()) {
    std::fprintf(stderr, "%s\n", done.status().ToString().c_str());
    return 1;
  }
  unidist::ObjectRef<Weights> weights = server.Submit(&Server::Get);
  absl::StatusOr<Weights> fitted = unidist::Get(weights);
  if (!fitted.ok()) {
    std::fprintf(stderr, "%s\n", fitted.status().ToString().c_str());
    return 1;
  }
  std::printf("fitted y = %.3f + %.3f x (true: y = 2 + 3 x)\n", fitted->first, fitted->second);
  if (absl::Status status = unidist::Shutdown(); !status.ok()) {
    std::fprintf(stderr, "Shutdown failed: %s\n", status.ToString().c_str());
    return 1;
  }
  const bool close = std::abs(fitted->first - 2) < 0.1 && std::abs(fitted->second - 3) < 0.1;
  return close ? 0 : 1;
}
