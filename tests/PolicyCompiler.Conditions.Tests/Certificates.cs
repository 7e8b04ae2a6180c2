namespace PolicyCompiler.Conditions.Tests;

/// <summary>
/// The self-signed <c>*.kyverno.svc</c> certificate of Kyverno's Test_x509Decode (kyverno/kyverno
/// pkg/engine/jmespath/functions_test.go, Apache-2.0), as a document <c>{"cert": "&lt;PEM&gt;"}</c>.
/// </summary>
internal static class Certificates
{
    public const string KyvernoSvcPem =
        "-----BEGIN CERTIFICATE-----\n" +
        "MIIC7TCCAdWgAwIBAgIBADANBgkqhkiG9w0BAQsFADAYMRYwFAYDVQQDDA0qLmt5\n" +
        "dmVybm8uc3ZjMB4XDTIyMDExMTEzMjY0M1oXDTIzMDExMTE0MjY0M1owGDEWMBQG\n" +
        "A1UEAwwNKi5reXZlcm5vLnN2YzCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoC\n" +
        "ggEBAMsAz85+yino+MmdKsVtHwNi3oAVjumzXHiLfUJK7xi5KU8B7goPHF/VCe/V\n" +
        "7Y2c4afyfgY2ePw4LxSDkCYNgYwqjSwGIbcsqv5ZRazBdDxR09ri6PknNyBVGLi5\n" +
        "RlPXIrGQ3psNuf55qwxJxLO31qCZuvktKY5YvuIR4JPmBhuSFXOnn0ZiQw8uxMcQ\n" +
        "0QA2lz+PxWCVNk9q+31H5DH1oYZDLfU3mijIOA+AJGZbBb+ZwBmpVL0+2TXLxE74\n" +
        "WowdKEV+WTsKojNTd0VwcuRKRKR/6ynXAAis21y1X7Ui9FJE6mDIylUD40WXOKGJ\n" +
        "1lYY41kRnYhVhvXYN9JtNYdY3HsCAwEAAaNCMEAwDgYDVR0PAQH/BAQDAgKkMA8G\n" +
        "A1UdEwEB/wQFMAMBAf8wHQYDVR0OBBYEFOnlASVD9fu3TAjptlW/gAXA4ql+MA0G\n" +
        "CSqGSIb3DQEBCwUAA4IBAQCIpyRiChxp97crKfQ24Jt7z8P+AGpLf3sX4eL87ESa\n" +
        "7QRoVJtXLmaut1pUEoYLQruKmh/0YFtZG9WxVgY6iuKbWnu7bOeMB/Ir+V/yrX3R\n" +
        "+XvZOsuXiJnEbJiBW6lJzLldoW4f/71H+j1WD4tHpqmdMxq/sLqXfPIuc0/m0yFC\n" +
        "n+ADBWGGB8Nn66vxtv+cT6p+RIVotXPQWbMilWp6pd5wSuB68FqrDwtYLNJtPwFs\n" +
        "9MPVkuaJdYZ0eWd/rMcKD94Hgf89gvA0+qzMVFf+3BemXskjQRYy6CKsqoyC6jX4\n" +
        "nhYjumAP/7psbzITsnpHtfCEEU+2JZwgM406aiMcsgLb\n" +
        "-----END CERTIFICATE-----\n";

    public static readonly string KyvernoSvcDocument = "{\"cert\": " + System.Text.Json.JsonSerializer.Serialize(KyvernoSvcPem, CertificatesJson.Default.String) + "}";
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class CertificatesJson : System.Text.Json.Serialization.JsonSerializerContext;
