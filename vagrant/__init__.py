"""The Vagrant lab: topology.yaml (shared with the Vagrantfile, via topology.rb) and its inventory."""
