using System.Net;
using System.Net.Sockets;

namespace PolicyCompiler.EndToEnd.Tests.Infrastructure;

/// <summary>Picks a free loopback port by letting the kernel choose one for a socket bound to port 0.</summary>
public static class FreeTcpPort
{
    public static int Pick()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
