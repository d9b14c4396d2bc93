using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Fahrtenbuch.Server.Infrastructure.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class TripLookupIndexes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "IX_Trips_ActiveByDriver",
                table: "Trips",
                columns: new[] { "CompanyId", "DriverId" },
                filter: "\"State\" = 'Active'");

            migrationBuilder.CreateIndex(
                name: "IX_Trips_ActiveByVehicle",
                table: "Trips",
                columns: new[] { "CompanyId", "VehicleId" },
                filter: "\"State\" = 'Active'");

            migrationBuilder.CreateIndex(
                name: "IX_Trips_CompletedByDriverEnd",
                table: "Trips",
                columns: new[] { "CompanyId", "DriverId", "EndedAt" },
                filter: "\"State\" = 'Completed'");

            migrationBuilder.CreateIndex(
                name: "IX_Trips_CompletedByVehicleEnd",
                table: "Trips",
                columns: new[] { "CompanyId", "VehicleId", "EndedAt" },
                filter: "\"State\" = 'Completed'");

            migrationBuilder.CreateIndex(
                name: "IX_Trips_CompletedByVehicleEndOdometer",
                table: "Trips",
                columns: new[] { "CompanyId", "VehicleId", "EndOdometer" },
                filter: "\"State\" = 'Completed'");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Trips_ActiveByDriver",
                table: "Trips");

            migrationBuilder.DropIndex(
                name: "IX_Trips_ActiveByVehicle",
                table: "Trips");

            migrationBuilder.DropIndex(
                name: "IX_Trips_CompletedByDriverEnd",
                table: "Trips");

            migrationBuilder.DropIndex(
                name: "IX_Trips_CompletedByVehicleEnd",
                table: "Trips");

            migrationBuilder.DropIndex(
                name: "IX_Trips_CompletedByVehicleEndOdometer",
                table: "Trips");
        }
    }
}
