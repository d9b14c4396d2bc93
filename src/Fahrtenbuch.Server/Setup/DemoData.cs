using Fahrtenbuch.Server.Accounts;
using Fahrtenbuch.Server.Events;
using Fahrtenbuch.Server.Infrastructure;
using Fahrtenbuch.Server.Vehicles;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace Fahrtenbuch.Server.Setup;

/// <summary>The demo tenants of a Development start (listed in the README). Never runs in Production.</summary>
public static class DemoData
{
    public const string Password = "Fahrtenbuch-Demo-2026";

    public static async Task SeedAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        await SeedCompanyAsync(services, "Demo Fuhrpark GmbH", "DE",
            [("chef@demo.local", "Christa Chef", UserRole.FleetManager), ("anna@demo.local", "Anna Albers", UserRole.Driver),
             ("ben@demo.local", "Ben Becker", UserRole.Driver), ("clara@demo.local", "Clara Conrad", UserRole.Driver),
             ("pruefer@demo.local", "Paul Prüfer", UserRole.Auditor)],
            [("M FB 1001", "VW Golf Variant", 48_210, null), ("M FB 1002", "Škoda Octavia Combi", 112_530, null),
             ("M FB 1003", "Tesla Model 3", 23_870, "anna@demo.local"), ("M FB 1004", "VW ID. Buzz Cargo", 9_415, null),
             ("M FB 1005", "BMW 320d Touring", 76_002, "ben@demo.local")],
            cancellationToken);
        await SeedCompanyAsync(services, "Zweite Demo AG", "AT",
            [("chef@zweite.local", "Zora Zweig", UserRole.FleetManager)],
            [("W ZD 201", "Toyota Corolla Touring", 31_440, null), ("W ZD 202", "Renault Kangoo", 58_905, null)],
            cancellationToken);
    }

    private static async Task SeedCompanyAsync(
        IServiceProvider root, string name, string country,
        (string Email, string Name, UserRole Role)[] people,
        (string Plate, string Model, int Odometer, string? AssignedTo)[] vehicles,
        CancellationToken cancellationToken)
    {
        await using var scope = root.CreateAsyncScope();
        var services = scope.ServiceProvider;
        var db = services.GetRequiredService<AppDbContext>();
        if (await db.Companies.AnyAsync(c => c.Name == name, cancellationToken))
        {
            return;
        }

        var time = services.GetRequiredService<TimeProvider>();
        var company = new Company(name, country, Instants.Normalize(time.GetUtcNow()));
        db.Companies.Add(company);
        await db.SaveChangesAsync(cancellationToken);
        services.GetRequiredService<CompanyScope>().CompanyId = company.Id;

        await using var write = await services.GetRequiredService<EventLog>().BeginAsync(cancellationToken);
        var users = services.GetRequiredService<UserManager<User>>();
        var ids = new Dictionary<string, Guid>();
        foreach (var (email, displayName, role) in people)
        {
            var user = new User(company.Id, email, displayName, role, write.Now) { EmailConfirmed = true };
            var result = await users.CreateAsync(user, Password);
            if (!result.Succeeded)
            {
                throw new InvalidOperationException(string.Join(" ", result.Errors.Select(e => e.Description)));
            }

            ids[email] = user.Id;
        }

        foreach (var (plate, model, odometer, assignedTo) in vehicles)
        {
            var vehicle = new Vehicle(company.Id, plate, model, odometer, assignedTo is null ? null : ids[assignedTo], write.Now);
            db.Vehicles.Add(vehicle);
            await db.SaveChangesAsync(cancellationToken);
            write.Append(EventTypes.VehicleCreated, await db.LoadBoardRowAsync(vehicle.Id, cancellationToken), vehicleId: vehicle.Id);
        }

        await write.CommitAsync(cancellationToken);
    }
}
