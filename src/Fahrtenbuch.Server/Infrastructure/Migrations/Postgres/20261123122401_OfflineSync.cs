using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Fahrtenbuch.Server.Infrastructure.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class OfflineSync : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Trips_OneActivePerDriver",
                table: "Trips");

            migrationBuilder.DropIndex(
                name: "IX_Trips_OneActivePerVehicle",
                table: "Trips");

            migrationBuilder.AddColumn<string>(
                name: "ReviewResolution",
                table: "Trips",
                type: "character varying(500)",
                maxLength: 500,
                nullable: true);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "ReviewResolvedAt",
                table: "Trips",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "ReviewResolvedBy",
                table: "Trips",
                type: "uuid",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "SyncOperations",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "uuid", nullable: false),
                    CompanyId = table.Column<Guid>(type: "uuid", nullable: false),
                    DeviceId = table.Column<Guid>(type: "uuid", nullable: false),
                    UserId = table.Column<Guid>(type: "uuid", nullable: false),
                    Type = table.Column<string>(type: "character varying(50)", maxLength: 50, nullable: false),
                    CapturedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    ReceivedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    TripId = table.Column<Guid>(type: "uuid", nullable: true),
                    VehicleId = table.Column<Guid>(type: "uuid", nullable: true),
                    Payload = table.Column<string>(type: "text", nullable: true),
                    Status = table.Column<string>(type: "character varying(20)", maxLength: 20, nullable: false),
                    ReviewReasons = table.Column<string>(type: "character varying(500)", maxLength: 500, nullable: true),
                    ProblemCode = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: true),
                    ProblemDetail = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: true),
                    DismissedBy = table.Column<Guid>(type: "uuid", nullable: true),
                    DismissedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    DismissReason = table.Column<string>(type: "character varying(500)", maxLength: 500, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_SyncOperations", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_Trips_OneActivePerDriver",
                table: "Trips",
                column: "DriverId",
                unique: true,
                filter: "\"State\" = 'Active' AND \"Review\" = 'None'");

            migrationBuilder.CreateIndex(
                name: "IX_Trips_OneActivePerVehicle",
                table: "Trips",
                column: "VehicleId",
                unique: true,
                filter: "\"State\" = 'Active' AND \"Review\" = 'None'");

            migrationBuilder.CreateIndex(
                name: "IX_SyncOperations_CompanyId_Status",
                table: "SyncOperations",
                columns: new[] { "CompanyId", "Status" });

            migrationBuilder.CreateIndex(
                name: "IX_SyncOperations_TripId",
                table: "SyncOperations",
                column: "TripId");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "SyncOperations");

            migrationBuilder.DropIndex(
                name: "IX_Trips_OneActivePerDriver",
                table: "Trips");

            migrationBuilder.DropIndex(
                name: "IX_Trips_OneActivePerVehicle",
                table: "Trips");

            migrationBuilder.DropColumn(
                name: "ReviewResolution",
                table: "Trips");

            migrationBuilder.DropColumn(
                name: "ReviewResolvedAt",
                table: "Trips");

            migrationBuilder.DropColumn(
                name: "ReviewResolvedBy",
                table: "Trips");

            migrationBuilder.CreateIndex(
                name: "IX_Trips_OneActivePerDriver",
                table: "Trips",
                column: "DriverId",
                unique: true,
                filter: "\"State\" = 'Active'");

            migrationBuilder.CreateIndex(
                name: "IX_Trips_OneActivePerVehicle",
                table: "Trips",
                column: "VehicleId",
                unique: true,
                filter: "\"State\" = 'Active'");
        }
    }
}
