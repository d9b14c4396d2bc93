using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Fahrtenbuch.Server.Infrastructure.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class ActiveTripByVehicleIndex : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Trips_ActiveByVehicle",
                table: "Trips");

            migrationBuilder.CreateIndex(
                name: "IX_Trips_ActiveByVehicle",
                table: "Trips",
                columns: new[] { "CompanyId", "VehicleId", "StartedAt" },
                filter: "\"State\" = 'Active'");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Trips_ActiveByVehicle",
                table: "Trips");

            migrationBuilder.CreateIndex(
                name: "IX_Trips_ActiveByVehicle",
                table: "Trips",
                columns: new[] { "CompanyId", "VehicleId" },
                filter: "\"State\" = 'Active'");
        }
    }
}
