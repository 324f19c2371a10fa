# frozen_string_literal: true

# The Vagrant lab's layout: vagrant/topology.yaml plus the environment.
#
# vagrant/inventory.py applies the same rules in Python (tests/vagrant checks
# that both agree), so the inventory's node IPs are the addresses the VMs get.
#
#   TOPOLOGY                   1+4 or 3+3; unset: the topology whose VMs exist, else 1+4
#   VAGRANT_LAB_NETWORK        private network, e.g. 10.20.30.0/24 (host numbers are kept)
#   VAGRANT_LAB_BOX            box name (default debian/bookworm64)
#   VAGRANT_LAB_CP_CPUS / VAGRANT_LAB_CP_MEMORY          control planes (MB)
#   VAGRANT_LAB_WORKER_CPUS / VAGRANT_LAB_WORKER_MEMORY  workers (MB)

require "ipaddr"
require "yaml"

module VagrantLab
  SPEC_FILE = File.join(__dir__, "topology.yaml")
  ROLES = { "control_plane" => "control_plane", "workers" => "worker" }.freeze
  # kubeadm init's preflight: NumCPU >= 2 and Mem >= 1700 MB on control planes.
  MINIMUM = { "control_plane" => { "cpus" => 2, "memory" => 1700 }, "worker" => { "cpus" => 1, "memory" => 1024 } }.freeze

  Node = Struct.new(:name, :role, :ip, :cpus, :memory, keyword_init: true) do
    def control_plane?
      role == "control_plane"
    end
  end

  Layout = Struct.new(:topology, :network, :netmask, :vip, :box, :nodes, keyword_init: true)

  class Error < StandardError; end

  # The layout for this environment: topology, private network, VIP, box and nodes.
  def self.layout(env = ENV, root = File.dirname(__dir__))
    spec = YAML.safe_load(File.read(SPEC_FILE))
    name = topology(spec, env, created_machines(env, root))
    topo = spec.fetch("topologies").fetch(name)
    network = network(env["VAGRANT_LAB_NETWORK"].to_s.strip.empty? ? topo.fetch("network") : env["VAGRANT_LAB_NETWORK"].strip)
    nodes = ROLES.flat_map do |group, role|
      topo.fetch(group).map do |node_name, host_number|
        Node.new(name: node_name, role: role, ip: address(network, host_number), **resources(spec, env, role))
      end
    end
    vip = topo["vip"] && address(network, topo["vip"])
    Layout.new(topology: name, network: network, netmask: IPAddr.new("255.255.255.255").mask(network.prefix).to_s, vip: vip,
               box: env["VAGRANT_LAB_BOX"].to_s.strip.empty? ? spec.fetch("box") : env["VAGRANT_LAB_BOX"].strip,
               nodes: nodes)
  end

  # TOPOLOGY if set, else the topology whose machines Vagrant has created, else the default.
  def self.topology(spec, env, created)
    known = spec.fetch("topologies").keys
    explicit = env["TOPOLOGY"].to_s.strip
    unless explicit.empty?
      raise Error, "TOPOLOGY=#{explicit} is unknown; expected one of #{known.join(', ')}" unless known.include?(explicit)

      return explicit
    end
    existing = known.select { |t| machine_names(spec, t).any? { |m| created.include?(m) } }
    if existing.length > 1
      raise Error, "VMs of several topologies exist (#{existing.join(', ')}): set TOPOLOGY to choose one"
    end

    existing.first || spec.fetch("default")
  end

  # Names of the machines of topology T, control planes first.
  def self.machine_names(spec, topo)
    ROLES.keys.flat_map { |group| spec.fetch("topologies").fetch(topo).fetch(group).keys }
  end

  # Machines Vagrant has created in this project (.vagrant/machines/NAME/PROVIDER/id).
  def self.created_machines(env, root)
    dotfile = env["VAGRANT_DOTFILE_PATH"].to_s.strip.empty? ? ".vagrant" : env["VAGRANT_DOTFILE_PATH"].strip
    machines = File.expand_path(File.join(dotfile, "machines"), root)
    Dir.glob(File.join(machines, "*", "*", "id")).map { |path| File.basename(File.dirname(File.dirname(path))) }.uniq
  end

  # An IPv4 network in CIDR form.
  def self.network(text)
    net = IPAddr.new(text)
    raise Error, "VAGRANT_LAB_NETWORK=#{text}: not an IPv4 network" unless net.ipv4?
    raise Error, "VAGRANT_LAB_NETWORK=#{text}: not a network address (host bits set)" unless net.to_s == text.split("/").first

    net
  rescue IPAddr::Error
    raise Error, "VAGRANT_LAB_NETWORK=#{text}: not an IPv4 network in CIDR form"
  end

  # Host number N of NETWORK, which must be neither its network nor its broadcast address.
  def self.address(network, host_number)
    size = network.to_range.count
    raise Error, "host number #{host_number} does not fit #{network}/#{network.prefix}" unless host_number.positive? && host_number < size - 1

    IPAddr.new(network.to_i + host_number, Socket::AF_INET).to_s
  end

  # CPUs and memory for ROLE: topology.yaml, overridden by the environment, never below the minimum.
  def self.resources(spec, env, role)
    prefix = role == "control_plane" ? "VAGRANT_LAB_CP_" : "VAGRANT_LAB_WORKER_"
    MINIMUM.fetch(role).to_h do |key, minimum|
      raw = env["#{prefix}#{key.upcase}"].to_s.strip
      value = raw.empty? ? spec.fetch("resources").fetch(role).fetch(key) : Integer(raw, 10)
      raise Error, "#{prefix}#{key.upcase}=#{value}: below the minimum #{minimum} for a #{role}" if value < minimum

      [key.to_sym, value]
    end
  rescue ArgumentError
    raise Error, "#{prefix}CPUS / #{prefix}MEMORY must be whole numbers"
  end
end
